package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request whose forward needs more memory than there is fails with RESOURCE_EXHAUSTED naming the model and the
 * batch, in both APIs, and that model and the others serve on. Host memory here (a model allocating 4 TiB on the CPU);
 * {@link CudaServingTest} does the same with device memory.
 */
@Timeout(180)
class OutOfMemoryServingTest {

    @TempDir
    static Path repository;

    private static TestServer server;

    @BeforeAll
    static void start() throws IOException {
        Path allocates = Files.createDirectories(repository.resolve("allocates"));
        Files.copy(TestServer.repositoryPath().resolveSibling("models").resolve("allocates.pt"),
                allocates.resolve("model.pt"));
        Files.writeString(allocates.resolve("config.pbtxt"), """
                task: TASK_RAW
                preprocessing { crop_width: 2 crop_height: 1 channel_order: CHANNEL_ORDER_GRAY }
                """);
        Path cnn = Files.createDirectories(repository.resolve("cnn"));
        for (String file : new String[] {"model.pt", "config.pbtxt", "labels.txt"}) {
            Files.copy(TestServer.repositoryPath().resolve("cnn").resolve(file), cnn.resolve(file));
        }
        server = TestServer.start(repository);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @Test
    void outOfMemoryIsResourceExhaustedAndEveryModelServesOn() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> allocate(1 << 20, 1 << 20));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        String description = e.getStatus().getDescription();
        assertTrue(description.startsWith("model allocates ran out of memory on a batch of 1 image (1 request): "),
                description);

        StatusRuntimeException oip = assertThrows(StatusRuntimeException.class, () -> GRPCInferenceServiceGrpc
                .newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS).modelInfer(
                        ModelInferRequest.newBuilder().setModelName("allocates").addInputs(ModelInferRequest
                                .InferInputTensor.newBuilder().setName("input").setDatatype("FP32").addShape(1)
                                .addShape(2)).addRawInputContents(sizes(1 << 20, 1 << 20)).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, oip.getStatus().getCode(), oip.getStatus().toString());

        assertEquals(List.of(2L, 3L), allocate(2, 3).getOutputs(0).getShapeList());
        assertEquals(10, server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").setTopK(10)
                .addImages(TestImages.pixels(TestImages.picture(32, 32, 1))).build()).getResults(0).getClassesCount());
    }

    private static ByteString sizes(float rows, float columns) {
        return ByteString.copyFrom(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(rows)
                .putFloat(columns).flip());
    }

    private static Result allocate(float rows, float columns) {
        Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(2).setData(sizes(rows, columns))).build();
        return server.blocking().withDeadlineAfter(60, TimeUnit.SECONDS).predict(PredictRequest.newBuilder()
                .setModel("allocates").addImages(tensor).setIncludeOutputTensors(true).build()).getResults(0);
    }
}
