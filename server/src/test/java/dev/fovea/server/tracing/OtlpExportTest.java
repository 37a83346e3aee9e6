package dev.fovea.server.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import com.sun.net.httpserver.HttpServer;
import io.grpc.Context;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Spans reach an OTLP/HTTP receiver (a JDK HttpServer here) as protobuf, through the exporter Fovea ships: the JDK
 * HTTP sender, without the metrics and logs SDKs.
 */
class OtlpExportTest {

    private record Received(String path, String contentType, byte[] body) {}

    @Test
    void spansArriveAtTheConfiguredUrlAsOtlpProtobuf() throws Exception {
        BlockingQueue<Received> received = new LinkedBlockingQueue<>();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/", exchange -> {
            received.add(new Received(exchange.getRequestURI().getPath(),
                    exchange.getRequestHeaders().getFirst("Content-Type"), exchange.getRequestBody().readAllBytes()));
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        receiver.start();
        String traceId = "0af7651916cd43dd8448eb211c80319c";
        try (Tracing tracing = Tracing.of(TraceConfig.parse(List.of("level=TIMESTAMPS", "rate=1",
                "opentelemetry,url=http://127.0.0.1:" + receiver.getAddress().getPort() + "/v1/traces",
                "opentelemetry,resource=service.name=fovea-test")))) {
            Context withParent = tracing.withParent(Context.ROOT,
                    Map.of("traceparent", "00-" + traceId + "-b7ad6b7169203331-01")::get);
            RequestTrace trace = withParent.call(() -> tracing.start("ModelInfer", "cnn", "1", System.nanoTime()));
            trace.end(Status.OK);
            assertTrue(tracing.flush(30_000), "the export succeeded");
        } finally {
            receiver.stop(0);
        }
        Received request = received.poll(30, TimeUnit.SECONDS);
        assertEquals("/v1/traces", request.path());
        assertEquals("application/x-protobuf", request.contentType());
        // ExportTraceServiceRequest: resource_spans (1) { resource (1), scope_spans (2) { spans (2) { trace_id (1),
        // parent_span_id (4), name (5) } } }
        UnknownFieldSet resourceSpans = nested(UnknownFieldSet.parseFrom(request.body()), 1).getFirst();
        assertTrue(nested(resourceSpans, 1).getFirst().toString().contains("fovea-test"), "the resource");
        UnknownFieldSet span = nested(nested(resourceSpans, 2).getFirst(), 2).getFirst();
        assertEquals(traceId, HexFormat.of().formatHex(bytes(span, 1).toByteArray()));
        assertEquals("b7ad6b7169203331", HexFormat.of().formatHex(bytes(span, 4).toByteArray()));
        assertEquals("ModelInfer", bytes(span, 5).toStringUtf8());
    }

    private static List<UnknownFieldSet> nested(UnknownFieldSet message, int field)
            throws InvalidProtocolBufferException {
        List<UnknownFieldSet> messages = new ArrayList<>();
        for (ByteString bytes : message.getField(field).getLengthDelimitedList()) {
            messages.add(UnknownFieldSet.parseFrom(bytes));
        }
        return messages;
    }

    private static ByteString bytes(UnknownFieldSet message, int field) {
        return message.getField(field).getLengthDelimitedList().getFirst();
    }
}
