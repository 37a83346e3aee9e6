package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.DataType;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.RawTensor;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The same service over real Netty on loopback: size limits, health and reflection are wire-level behaviour. */
class NettyServerTest {

    private static final int MAX_MESSAGE_BYTES = 1 << 20;

    private static FoveaServer server;
    private static ServerMetrics metrics;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(8, 2, metrics));
        server = FoveaServer.builder(repository, metrics).callThreads(4).listener(NettyServerBuilder
                .forAddress(new InetSocketAddress("127.0.0.1", 0)).maxInboundMessageSize(MAX_MESSAGE_BYTES))
                .build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
                .maxInboundMessageSize(16 << 20).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow();
        server.stop(5_000);
    }

    private static PredictResponse predict(Image image) {
        return InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .predict(PredictRequest.newBuilder().setModel("cnn").addImages(image).build());
    }

    @Test
    void predictsOverLoopback() {
        assertEquals(5, predict(TestImages.encoded(TestImages.picture(64, 64, 1), "png")).getResults(0)
                .getClassesCount());
    }

    @Test
    void rawOutputsAreWrittenFromTensorMemoryOverLoopback() {
        ByteBuffer values = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        values.putFloat(1f).putFloat(2f).putFloat(3f).putFloat(4.5f).flip();
        Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(4).setData(ByteString.copyFrom(values))).build();
        for (int round = 0; round < 3; round++) {
            PredictResponse response = InferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(30, TimeUnit.SECONDS).predict(PredictRequest.newBuilder().setModel("raw")
                            .addImages(tensor).addImages(tensor).setIncludeOutputTensors(true).build());
            for (int image = 0; image < 2; image++) {
                float[] doubled = new float[4];
                response.getResults(image).getOutputs(0).getData().asReadOnlyByteBuffer()
                        .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(doubled);
                assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, doubled);
                assertEquals(10.5f, response.getResults(image).getOutputs(1).getData().asReadOnlyByteBuffer()
                        .order(ByteOrder.LITTLE_ENDIAN).getFloat(), 1e-6f);
            }
        }
    }

    private static long nativeMemory() {
        return metrics.registry().scrape().stream()
                .filter(snapshot -> snapshot.getMetadata().getName().equals("fovea_native_memory_bytes"))
                .mapToLong(snapshot -> (long) ((GaugeSnapshot) snapshot).getDataPoints().getFirst().getValue())
                .findFirst().orElseThrow();
    }

    @Test
    void requestsOfCallsCancelledBeforeHalfCloseAreFreed() throws Exception {
        PredictRequest request = PredictRequest.newBuilder().setModel("cnn").addImages(Image.newBuilder()
                .setEncoded(EncodedImage.newBuilder().setData(ByteString.copyFrom(new byte[900_000])))).build();
        long before = nativeMemory();
        for (int i = 0; i < 40; i++) {
            ClientCall<PredictRequest, PredictResponse> call =
                    channel.newCall(InferenceServiceGrpc.getPredictMethod(), CallOptions.DEFAULT);
            call.start(new ClientCall.Listener<>() {}, new Metadata());
            call.request(1);
            call.sendMessage(request);
            Thread.sleep(30); // the server parses the message into native memory, then the client walks away
            call.cancel("client gave up before half-close", null);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long grown;
        while ((grown = nativeMemory() - before) > 12_000_000 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(grown < 12_000_000, "36 MB of cancelled requests left " + grown + " native bytes behind");
        assertEquals(5, predict(TestImages.pixels(TestImages.picture(32, 32, 1))).getResults(0).getClassesCount());
    }

    @Test
    void messageOverTheLimitIsResourceExhaustedAndTheServerGoesOn() {
        Image huge = Image.newBuilder().setEncoded(EncodedImage.newBuilder()
                .setData(ByteString.copyFrom(new byte[MAX_MESSAGE_BYTES + 1]))).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> predict(huge));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertEquals(5, predict(TestImages.pixels(TestImages.picture(32, 32, 1))).getResults(0).getClassesCount());
    }

    @Test
    void healthReportsTheServerAndEachModel() {
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
        assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                health.check(HealthCheckRequest.newBuilder().setService("").build()).getStatus());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                health.check(HealthCheckRequest.newBuilder().setService("cnn").build()).getStatus());
        assertEquals(HealthCheckResponse.ServingStatus.NOT_SERVING,
                health.check(HealthCheckRequest.newBuilder().setService("broken").build()).getStatus());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.check(HealthCheckRequest.newBuilder()
                .setService(InferenceServiceGrpc.SERVICE_NAME).build()).getStatus());
    }

    @Test
    void reflectionListsTheInferenceService() throws Exception {
        CompletableFuture<List<String>> services = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
                new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                        services.complete(response.getListServicesResponse().getServiceList().stream()
                                .map(ServiceResponse::getName).toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                        services.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {}
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        List<String> names = services.get(10, TimeUnit.SECONDS);
        requests.onCompleted();
        assertTrue(names.contains("fovea.v1.InferenceService"), names.toString());
        assertTrue(names.contains("grpc.health.v1.Health"), names.toString());
    }
}
