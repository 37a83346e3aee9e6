package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.Frame;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bytes that are not the method's request message, sent over real Netty as raw gRPC frames: every kind of garbage, to
 * every method of both services, gets INVALID_ARGUMENT naming the message type, in one bounded line; a bad message
 * in the middle of a stream ends that stream; and the server's log gets no stack trace and at most one line per
 * interval.
 */
class UnparseableRequestTest {

    /** Kinds of bytes that no request message parses from, by what is wrong with them. */
    private static final Map<String, byte[]> GARBAGE = Map.of(
            "an HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
            "groups nested 10,000 deep", repeat((byte) 0x0b, 10_000), // field 1, wire type 3 (start group)
            "a bad wire type", new byte[] {0x0e, 1, 2, 3}, // field 1, wire type 6
            "a truncated varint", new byte[] {0x08, (byte) 0xff, (byte) 0xff}, // field 1 varint, cut short
            "a varint longer than 10 bytes", repeat((byte) 0xff, 16),
            "a field longer than the message", new byte[] {0x0a, 0x7f, 'a'}); // field 1, 127 bytes announced

    private static final int MAX_DESCRIPTION_CHARS = 300;

    private static FoveaServer server;
    private static ManagedChannel channel;
    private static final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    private static final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeAll
    static void start() throws Exception {
        Logger.getLogger("").addHandler(capture);
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(8, 2, metrics));
        server = FoveaServer.builder(repository, metrics).callThreads(4)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow();
        server.stop(5_000);
        Logger.getLogger("").removeHandler(capture);
    }

    @AfterEach
    void nothingWasLoggedWithAStackTraceOrOverSeveralLines() {
        for (LogRecord record : logged) {
            assertNull(record.getThrown(), () -> record.getLoggerName() + " logged a stack trace: " + record.getThrown());
            assertTrue(record.getLevel().intValue() < Level.SEVERE.intValue(),
                    () -> record.getLoggerName() + " logged SEVERE: " + record.getMessage());
            assertFalse(String.valueOf(record.getMessage()).contains("\n"),
                    () -> record.getLoggerName() + " logged several lines: " + record.getMessage());
        }
    }

    @Test
    void everyKindOfGarbageToAUnaryAndAStreamingMethodOfEachServiceIsAnInvalidArgumentNamingTheType() {
        List<MethodDescriptor<?, ?>> methods = List.of(InferenceServiceGrpc.getPredictMethod(),
                InferenceServiceGrpc.getStreamPredictMethod(), InferenceServiceGrpc.getListModelsMethod(),
                GRPCInferenceServiceGrpc.getModelInferMethod(), GRPCInferenceServiceGrpc.getModelStreamInferMethod(),
                GRPCInferenceServiceGrpc.getServerLiveMethod());
        for (MethodDescriptor<?, ?> method : methods) {
            for (Map.Entry<String, byte[]> garbage : GARBAGE.entrySet()) {
                Status status = new RawCall(method).send(garbage.getValue()).halfClose().awaitClose();
                assertRefused(method, status, method.getFullMethodName() + " sent " + garbage.getKey());
            }
        }
    }

    @Test
    void aModelNameThatIsNotUtf8IsAnInvalidArgument() {
        byte[] notUtf8 = {0x0a, 2, (byte) 0xc3, 0x28}; // field 1, the model's name in both requests
        for (MethodDescriptor<?, ?> method : List.of(InferenceServiceGrpc.getPredictMethod(),
                GRPCInferenceServiceGrpc.getModelInferMethod())) {
            assertRefused(method, new RawCall(method).send(notUtf8).halfClose().awaitClose(), "not UTF-8");
        }
    }

    @Test
    void everyMethodOfBothServicesRefusesDeepNestingAsAnInvalidArgument() {
        List<ServiceDescriptor> services = List.of(InferenceServiceGrpc.getServiceDescriptor(),
                GRPCInferenceServiceGrpc.getServiceDescriptor());
        int methods = 0;
        for (ServiceDescriptor service : services) {
            for (MethodDescriptor<?, ?> method : service.getMethods()) {
                Status status = new RawCall(method).send(GARBAGE.get("groups nested 10,000 deep")).halfClose()
                        .awaitClose();
                assertRefused(method, status, method.getFullMethodName());
                methods++;
            }
        }
        assertEquals(26, methods, "fovea.v1 has 6 methods and inference.GRPCInferenceService 20");
    }

    @Test
    void healthAndReflectionRefuseGarbageTheSameWay() {
        for (MethodDescriptor<?, ?> method : List.of(HealthGrpc.getCheckMethod(),
                ServerReflectionGrpc.getServerReflectionInfoMethod())) {
            Status status = new RawCall(method).send(GARBAGE.get("a bad wire type")).halfClose().awaitClose();
            assertRefused(method, status, method.getFullMethodName());
        }
    }

    @Test
    void aBadMessageInTheMiddleOfAFoveaStreamEndsItWithInvalidArgument() {
        RawCall call = new RawCall(InferenceServiceGrpc.getStreamPredictMethod());
        call.send(StreamPredictRequest.newBuilder().setOptions(StreamOptions.newBuilder().setModel("cnn")).build());
        call.send(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(1)
                .setImage(TestImages.pixels(TestImages.picture(32, 32, 1)))).build());
        call.awaitResponse();
        // The client keeps its side open: the server ends the stream.
        Status status = call.send(GARBAGE.get("a bad wire type")).awaitClose();
        assertRefused(InferenceServiceGrpc.getStreamPredictMethod(), status, "mid-stream");
    }

    @Test
    void aBadMessageInTheMiddleOfAnOpenInferenceStreamEndsItWithInvalidArgument() {
        RawCall call = new RawCall(GRPCInferenceServiceGrpc.getModelStreamInferMethod());
        call.send(ModelInferRequest.newBuilder().setModelName("raw").setId("r0")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input").setDatatype("FP32")
                        .addShape(1).addShape(4))
                .addRawInputContents(ByteString.copyFrom(new byte[16])).build());
        call.awaitResponse();
        Status status = call.send(GARBAGE.get("a truncated varint")).awaitClose();
        assertRefused(GRPCInferenceServiceGrpc.getModelStreamInferMethod(), status, "mid-stream");
    }

    @Test
    void aFloodOfGarbageLogsAtMostOneLinePerInterval() {
        long start = System.nanoTime();
        int before = refusalLines();
        int calls = 0;
        for (int round = 0; round < 10; round++) {
            for (byte[] garbage : GARBAGE.values()) {
                new RawCall(InferenceServiceGrpc.getPredictMethod()).send(garbage).halfClose().awaitClose();
                new RawCall(GRPCInferenceServiceGrpc.getModelInferMethod()).send(garbage).halfClose().awaitClose();
                calls += 2;
            }
        }
        long intervals = (System.nanoTime() - start) / ParseCheckedCalls.LOG_INTERVAL.toNanos();
        int lines = refusalLines() - before;
        assertTrue(lines <= 1 + intervals, lines + " lines for " + calls + " refused calls in " + (intervals + 1)
                + " log intervals");
    }

    private static int refusalLines() {
        return (int) logged.stream().filter(r -> ParseCheckedCalls.class.getName().equals(r.getLoggerName())).count();
    }

    private static void assertRefused(MethodDescriptor<?, ?> method, Status status, String what) {
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), () -> what + ": " + status);
        String type = ((Message) ((MethodDescriptor.PrototypeMarshaller<?>) method.getRequestMarshaller())
                .getMessagePrototype()).getDescriptorForType().getFullName();
        String description = status.getDescription();
        assertTrue(description.startsWith("the request is not a valid " + type + ": "), () -> what + ": " + status);
        assertTrue(description.length() <= MAX_DESCRIPTION_CHARS && !description.contains("\n"),
                () -> what + ": " + description);
    }

    private static byte[] repeat(byte value, int count) {
        byte[] bytes = new byte[count];
        Arrays.fill(bytes, value);
        return bytes;
    }

    /** One call of {@code method} whose request bytes the test writes itself, as HTTP/2 gRPC frames. */
    private static final class RawCall {
        private final ClientCall<byte[], byte[]> call;
        private final LinkedBlockingQueue<byte[]> responses = new LinkedBlockingQueue<>();
        private final CompletableFuture<Status> closed = new CompletableFuture<>();

        RawCall(MethodDescriptor<?, ?> method) {
            MethodDescriptor<byte[], byte[]> raw = MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(method.getType()).setFullMethodName(method.getFullMethodName())
                    .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
            call = channel.newCall(raw, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS));
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onMessage(byte[] message) {
                    responses.add(message);
                    call.request(1);
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    closed.complete(status);
                }
            }, new Metadata());
            call.request(1);
        }

        RawCall send(byte[] bytes) {
            call.sendMessage(bytes);
            return this;
        }

        RawCall send(Message message) {
            return send(message.toByteArray());
        }

        RawCall halfClose() {
            call.halfClose();
            return this;
        }

        void awaitResponse() {
            try {
                assertTrue(responses.poll(60, TimeUnit.SECONDS) != null || closed.isDone(), "no response");
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            assertFalse(closed.isDone(), () -> "the stream ended early: " + closed.join());
        }

        Status awaitClose() {
            return closed.orTimeout(60, TimeUnit.SECONDS).join();
        }
    }

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };
}
