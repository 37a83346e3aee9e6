package dev.fovea.server.tracing;

import static dev.fovea.server.tracing.Spans.assertStagesInOrder;
import static dev.fovea.server.tracing.Spans.child;
import static dev.fovea.server.tracing.Spans.children;
import static dev.fovea.server.tracing.Spans.requestSpans;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferTensorContents;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ServerMetadataRequest;
import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.oip.TraceSettingResponse;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.http.HttpAccess;
import dev.fovea.server.http.HttpServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tracing through a real server, over gRPC (Netty on loopback) and HTTP: spans recorded by an exporter that keeps
 * them. The server starts with the default settings (off); each test sets what it needs through TraceSetting, and
 * every setting is cleared after it.
 */
class TracingTest {

    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String PARENT_ID = "00f067aa0ba902b7";

    private static final RecordingExporter exported = new RecordingExporter();
    private static Tracing tracing;
    private static FoveaServer server;
    private static HttpServer http;
    private static ManagedChannel channel;
    private static HttpClient client;

    @BeforeAll
    static void start() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(64, 2, metrics));
        tracing = Tracing.exportingTo(TraceConfig.DEFAULT, exported);
        server = FoveaServer.builder(repository, metrics).callThreads(4).tracing(tracing)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        http = HttpServer.start(server.openInference(), "127.0.0.1", 0, 1 << 20, 1, HttpAccess.OPEN);
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void stop() throws Exception {
        http.close();
        channel.shutdownNow();
        server.stop(5_000);
    }

    @AfterEach
    void clearSettings() {
        TraceSettingRequest.SettingValue none = TraceSettingRequest.SettingValue.getDefaultInstance();
        for (String model : List.of("", "raw")) {
            oip().traceSetting(TraceSettingRequest.newBuilder().setModelName(model).putSettings("trace_level", none)
                    .putSettings("trace_rate", none).putSettings("trace_count", none).build());
        }
        tracing.flush(10_000);
        exported.clear();
    }

    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip() {
        return GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static Map<String, List<String>> setting(String model, String... nameValue) {
        TraceSettingRequest.Builder request = TraceSettingRequest.newBuilder().setModelName(model);
        for (int i = 0; i < nameValue.length; i += 2) {
            request.putSettings(nameValue[i], TraceSettingRequest.SettingValue.newBuilder()
                    .addValue(nameValue[i + 1]).build());
        }
        TraceSettingResponse response = oip().traceSetting(request.build());
        return response.getSettingsMap().entrySet().stream().collect(java.util.stream.Collectors.toMap(
                Map.Entry::getKey, entry -> entry.getValue().getValueList()));
    }

    private static String traceparent(String parentId) {
        return "00-" + TRACE_ID + "-" + parentId + "-01";
    }

    private static ModelInferRequest rawRequest(int rows) {
        ModelInferRequest.InferInputTensor.Builder input = ModelInferRequest.InferInputTensor.newBuilder()
                .setName("input").setDatatype("FP32").addShape(rows).addShape(4);
        InferTensorContents.Builder contents = InferTensorContents.newBuilder();
        for (int i = 0; i < rows * 4; i++) {
            contents.addFp32Contents(i);
        }
        return ModelInferRequest.newBuilder().setModelName("raw").addInputs(input.setContents(contents)).build();
    }

    private static void modelInfer(ModelInferRequest request, String traceparent) {
        var stub = oip();
        if (traceparent != null) {
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers(traceparent)));
        }
        stub.modelInfer(request);
    }

    private static Metadata headers(String traceparent) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER), traceparent);
        headers.put(Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER), "vendor=abc");
        return headers;
    }

    /** Sends {@code requests} on one stream, half-closes and waits for the stream's end. */
    private static <Q, R> void stream(java.util.function.Function<StreamObserver<R>, StreamObserver<Q>> call,
            List<Q> requests) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<Q> sender = call.apply(new StreamObserver<>() {
            @Override
            public void onNext(R response) {}

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(null);
            }
        });
        requests.forEach(sender::onNext);
        sender.onCompleted();
        done.get(60, TimeUnit.SECONDS);
    }

    private static PredictRequest predictRequest(String model, int seed) {
        return PredictRequest.newBuilder().setModel(model)
                .addImages(TestImages.pixels(TestImages.picture(32, 32, seed))).build();
    }

    /** Waits (flushing) until {@code count} request spans were exported; the spans exported so far. */
    private static List<SpanData> awaitRequestSpans(int count) throws InterruptedException {
        for (int i = 0; i < 3000; i++) {
            tracing.flush(10_000);
            List<SpanData> spans = exported.spans();
            if (requestSpans(spans).size() >= count) {
                return spans;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("fewer than " + count + " request spans exported: " + exported.spans());
    }

    @Test
    void offByDefaultTracesNothingEvenWithATraceparent() throws Exception {
        Map<String, List<String>> settings = setting("");
        assertEquals(List.of("OFF"), settings.get("trace_level"));
        assertEquals(List.of("1000"), settings.get("trace_rate"));
        assertEquals(List.of("-1"), settings.get("trace_count"));
        assertEquals(List.of("opentelemetry"), settings.get("trace_mode"));
        modelInfer(rawRequest(1), traceparent(PARENT_ID));
        InferenceServiceGrpc.newBlockingStub(channel).predict(predictRequest("cnn", 1));
        assertEquals(200, post("/v2/models/raw/infer", rawJson(), traceparent(PARENT_ID)).statusCode());

        // A request traced afterwards shows the exporter works: it is the only trace.
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "0");
        modelInfer(rawRequest(1), traceparent("00000000000000aa"));
        List<SpanData> requests = requestSpans(awaitRequestSpans(1));
        assertEquals(1, requests.size(), requests.toString());
        assertEquals("00000000000000aa", requests.getFirst().getParentSpanId());
    }

    @Test
    void aGrpcTraceparentBecomesTheParentOfTheRequestSpanAndItsStages() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "0");
        modelInfer(rawRequest(2), traceparent(PARENT_ID));
        List<SpanData> spans = awaitRequestSpans(1);
        SpanData request = requestSpans(spans).getFirst();
        assertEquals("ModelInfer", request.getName());
        assertEquals(TRACE_ID, request.getTraceId());
        assertEquals(PARENT_ID, request.getParentSpanId());
        assertTrue(request.getParentSpanContext().isRemote());
        assertEquals("abc", request.getParentSpanContext().getTraceState().get("vendor"));
        assertEquals("raw", request.getAttributes().get(AttributeKey.stringKey("model_name")));
        assertEquals(0L, request.getAttributes().get(AttributeKey.longKey("rpc.grpc.status_code")));
        assertStagesInOrder(spans, request, 2);
    }

    @Test
    void aRequestWithoutTraceparentStartsANewTraceWhenSampled() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "1");
        PredictResponse response = InferenceServiceGrpc.newBlockingStub(channel).predict(predictRequest("cnn", 2));
        assertEquals(1, response.getResultsCount());
        List<SpanData> spans = awaitRequestSpans(1);
        SpanData request = requestSpans(spans).getFirst();
        assertEquals("Predict", request.getName());
        assertFalse(request.getParentSpanContext().isValid(), "a root span");
        assertNotEquals(TRACE_ID, request.getTraceId());
        assertStagesInOrder(spans, request, 1);
    }

    @Test
    void aFailedRequestEndsItsSpanWithTheStatus() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "1");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> modelInfer(rawRequest(1).toBuilder().setModelName("no_such_model").build(), null));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        SpanData request = requestSpans(awaitRequestSpans(1)).getFirst();
        assertEquals(io.opentelemetry.api.trace.StatusCode.ERROR, request.getStatus().getStatusCode());
        assertTrue(request.getStatus().getDescription().startsWith("NOT_FOUND"), request.getStatus().toString());
        assertTrue(children(exported.spans(), request).isEmpty(), "nothing ran, so no stages");
    }

    @Test
    void everyRequestOfAStreamIsTracedUnderTheStreamsTraceparent() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "0");
        Channel traced = ClientInterceptors.intercept(channel,
                MetadataUtils.newAttachHeadersInterceptor(headers(traceparent(PARENT_ID))));
        stream(GRPCInferenceServiceGrpc.newStub(traced)::modelStreamInfer, List.of(rawRequest(1),
                rawRequest(1).toBuilder().setModelName("no_such_model").build()));
        stream(InferenceServiceGrpc.newStub(traced)::streamPredict, List.of(
                StreamPredictRequest.newBuilder().setOptions(StreamOptions.newBuilder().setModel("cnn")).build(),
                StreamPredictRequest.newBuilder().setFrame(dev.fovea.v1.Frame.newBuilder().setFrameId(1)
                        .setImage(TestImages.pixels(TestImages.picture(32, 32, 6)))).build()));
        List<SpanData> spans = awaitRequestSpans(3);
        List<SpanData> requests = requestSpans(spans);
        assertEquals(3, requests.size(), requests.toString());
        for (SpanData request : requests) {
            assertEquals(TRACE_ID, request.getTraceId());
            assertEquals(PARENT_ID, request.getParentSpanId());
            if (request.getStatus().getStatusCode() != io.opentelemetry.api.trace.StatusCode.ERROR) {
                assertStagesInOrder(spans, request, 1);
            }
        }
        assertEquals(Set.of("ModelStreamInfer", "StreamPredict"),
                Set.copyOf(requests.stream().map(SpanData::getName).toList()));
        assertEquals(1, requests.stream().filter(span -> span.getStatus().getStatusCode()
                == io.opentelemetry.api.trace.StatusCode.ERROR).count(), "the unknown model's request failed");
    }

    @Test
    void rateNSamplesOneRequestInNAndCountLimitsTheTraces() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "3", "trace_count", "100");
        for (int i = 0; i < 9; i++) {
            modelInfer(rawRequest(1), null);
        }
        assertEquals(List.of("97"), setting("").get("trace_count"), "3 of 9 requests were traced");
        assertEquals(3, requestSpans(awaitRequestSpans(3)).size());

        setting("", "trace_rate", "1", "trace_count", "2");
        for (int i = 0; i < 5; i++) {
            modelInfer(rawRequest(1), null);
        }
        assertEquals(List.of("0"), setting("").get("trace_count"), "the count stops tracing");
        assertEquals(5, requestSpans(awaitRequestSpans(5)).size());
    }

    @Test
    void aModelsOwnSettingsTraceItAlone() throws Exception {
        Map<String, List<String>> raw = setting("raw", "trace_level", "TIMESTAMPS", "trace_rate", "1");
        assertEquals(List.of("TIMESTAMPS"), raw.get("trace_level"));
        assertEquals(List.of("OFF"), setting("").get("trace_level"));
        InferenceServiceGrpc.newBlockingStub(channel).predict(predictRequest("cnn", 3));
        modelInfer(rawRequest(1), null);
        assertEquals(List.of("-1"), setting("raw").get("trace_count"), "the model follows the global count");
        List<SpanData> requests = requestSpans(awaitRequestSpans(1));
        assertEquals(1, requests.size());
        assertEquals("raw", requests.getFirst().getAttributes().get(AttributeKey.stringKey("model_name")));
    }

    @Test
    void requestsThatRanInOneBatchShareTheBatchId() throws Exception {
        setting("", "trace_level", "TIMESTAMPS", "trace_rate", "1");
        // The batched model waits up to 300 ms for a batch to fill: both requests arrive well within it.
        var stub = InferenceServiceGrpc.newFutureStub(channel);
        var first = stub.predict(predictRequest("batched", 4));
        var second = stub.predict(predictRequest("batched", 5));
        assertEquals(2, first.get(30, TimeUnit.SECONDS).getResults(0).getTimings().getBatchSize());
        assertEquals(2, second.get(30, TimeUnit.SECONDS).getResults(0).getTimings().getBatchSize());
        List<SpanData> spans = awaitRequestSpans(2);
        Set<Long> batchIds = new HashSet<>();
        Set<String> traceIds = new HashSet<>();
        for (SpanData request : requestSpans(spans)) {
            assertStagesInOrder(spans, request, 2);
            batchIds.add(child(spans, request, "compute").getAttributes().get(Spans.BATCH_ID));
            traceIds.add(request.getTraceId());
        }
        assertEquals(1, batchIds.size(), "one batch");
        assertEquals(2, traceIds.size(), "two traces");
    }

    @Test
    void badSettingsAreInvalidArgumentNamingTheSetting() {
        Map<String, String> bad = Map.of("trace_level", "LOUD", "trace_rate", "-1", "trace_count", "-5",
                "trace_file", "/tmp/trace.json", "log_frequency", "10", "trace_colour", "red");
        for (Map.Entry<String, String> entry : bad.entrySet()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> setting("", entry.getKey(), entry.getValue()), entry.getKey());
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), entry.getKey());
            assertTrue(e.getStatus().getDescription().contains("'" + entry.getKey() + "'"),
                    e.getStatus().getDescription());
        }
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
                () -> setting("no_such_model", "trace_level", "TIMESTAMPS"));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
        assertEquals(List.of("OFF"), setting("").get("trace_level"), "nothing changed");
        assertTrue(oip().serverMetadata(ServerMetadataRequest.getDefaultInstance()).getExtensionsList()
                .contains("trace"));
    }

    @Test
    void httpTakesTheTraceparentHeaderAndServesTheTraceExtension() throws Exception {
        HttpResponse<String> set = post("/v2/trace/setting",
                "{\"trace_level\": [\"TIMESTAMPS\"], \"trace_rate\": \"0\"}", null);
        assertEquals(200, set.statusCode(), set.body());
        assertTrue(set.body().contains("\"trace_level\":[\"TIMESTAMPS\"]"), set.body());
        assertTrue(set.body().contains("\"trace_rate\":\"0\""), set.body());
        HttpResponse<String> model = post("/v2/models/raw/trace/setting", "{\"trace_count\": \"7\"}", null);
        assertEquals(200, model.statusCode(), model.body());
        assertTrue(model.body().contains("\"trace_count\":\"7\""), model.body());
        HttpResponse<String> read = client.send(HttpRequest.newBuilder(uri("/v2/models/raw/trace/setting")).GET()
                .build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(read.body().contains("\"trace_count\":\"7\""), read.body());
        HttpResponse<String> bad = post("/v2/trace/setting", "{\"trace_rate\": \"often\"}", null);
        assertEquals(400, bad.statusCode(), bad.body());
        assertTrue(bad.body().contains("trace_rate"), bad.body());

        assertEquals(200, post("/v2/models/raw/infer", rawJson(), traceparent(PARENT_ID)).statusCode());
        List<SpanData> spans = awaitRequestSpans(1);
        SpanData request = requestSpans(spans).getFirst();
        assertEquals("POST /v2/models/{model}/infer", request.getName());
        assertEquals(TRACE_ID, request.getTraceId());
        assertEquals(PARENT_ID, request.getParentSpanId());
        assertStagesInOrder(spans, request, 1);
    }

    private static String rawJson() {
        return "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
                + "\"data\": [1, 2, 3, 4]}]}";
    }

    private static URI uri(String path) {
        return URI.create("http://127.0.0.1:" + http.port() + path);
    }

    private static HttpResponse<String> post(String path, String body, String traceparent) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(path))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (traceparent != null) {
            request.header("traceparent", traceparent);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
