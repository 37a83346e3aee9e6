package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.torch.TorchRuntime;
import dev.fovea.v1.DataType;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.Result;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models on cuda:0, through the server: scores equal to the CPU's (FP32, and FP16 with channels_last within FP16's
 * precision), and device memory that runs out fails one request with RESOURCE_EXHAUSTED naming the model and batch
 * while that model and the others serve on ({@link OutOfMemoryServingTest} does the same with host memory). Skipped
 * without CUDA; run on the GPU machine (scripts/gpu-check.sh).
 */
@Timeout(300)
class CudaServingTest {

    @TempDir
    static Path repository;

    private static TestServer server;

    @BeforeAll
    static void start() throws IOException {
        assumeTrue(TorchRuntime.cudaAvailable(), "no CUDA device");
        copy("cnn", "cnn_cpu", "");
        copy("cnn", "cnn_cuda", "device: \"cuda:0\"");
        copy("cnn", "cnn_cuda_fp16", "device: \"cuda:0\"\nprecision: FP16\nchannels_last: true");
        Path allocates = Files.createDirectories(repository.resolve("allocates_cuda"));
        Files.copy(TestServer.repositoryPath().resolveSibling("models").resolve("allocates.pt"),
                allocates.resolve("model.pt"));
        Files.writeString(allocates.resolve("config.pbtxt"), """
                task: TASK_RAW
                device: "cuda:0"
                preprocessing { crop_width: 2 crop_height: 1 channel_order: CHANNEL_ORDER_GRAY }
                """);
        server = TestServer.start(repository);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** The test repository's {@code from} as {@code to}, its device line replaced by {@code lines}. */
    private static void copy(String from, String to, String lines) throws IOException {
        Path source = TestServer.repositoryPath().resolve(from);
        Path target = Files.createDirectories(repository.resolve(to));
        try (Stream<Path> files = Files.list(source)) {
            for (Path file : files.toList()) {
                Files.copy(file, target.resolve(file.getFileName()));
            }
        }
        Path config = target.resolve("config.pbtxt");
        Files.writeString(config, Files.readString(config).replace("device: \"cpu\"", "") + "\n" + lines + "\n");
    }

    @Test
    void cudaScoresMatchTheCpusInFloat32AndFloat16() {
        Image picture = TestImages.pixels(TestImages.picture(48, 40, 7));
        List<Float> cpu = scores("cnn_cpu", picture);
        List<Float> cuda = scores("cnn_cuda", picture);
        List<Float> half = scores("cnn_cuda_fp16", picture);
        for (int i = 0; i < cpu.size(); i++) {
            assertEquals(cpu.get(i), cuda.get(i), 1e-4, "class " + i);
            assertEquals(cpu.get(i), half.get(i), 0.01, "class " + i);
        }
    }

    @Test
    void deviceOutOfMemoryIsResourceExhaustedAndEveryModelServesOn() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> allocate(1 << 20, 1 << 20));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().startsWith("model allocates_cuda ran out of memory on a batch of 1"),
                e.getStatus().getDescription());
        assertEquals(List.of(2L, 3L), allocate(2, 3).getOutputs(0).getShapeList());
        scores("cnn_cuda", TestImages.pixels(TestImages.picture(32, 32, 1)));
        assertTrue(GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(30, TimeUnit.SECONDS)
                .modelReady(ModelReadyRequest.newBuilder().setName("allocates_cuda").build()).getReady(),
                "out of memory leaves the device context usable");
    }

    private static Result allocate(float rows, float columns) {
        ByteBuffer values = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(rows).putFloat(columns);
        Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(2).setData(ByteString.copyFrom(values.flip()))).build();
        return server.blocking().withDeadlineAfter(60, TimeUnit.SECONDS).predict(PredictRequest.newBuilder()
                .setModel("allocates_cuda").addImages(tensor).setIncludeOutputTensors(true).build()).getResults(0);
    }

    /** Every class's score, in class order. */
    private static List<Float> scores(String model, Image picture) {
        Result result = server.blocking().withDeadlineAfter(60, TimeUnit.SECONDS).predict(PredictRequest.newBuilder()
                .setModel(model).addImages(picture).setTopK(10).build()).getResults(0);
        Float[] byClass = new Float[result.getClassesCount()];
        result.getClassesList().forEach(score -> byClass[score.getIndex()] = score.getScore());
        return List.of(byClass);
    }
}
