package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Pixel limits set on the server builder (as {@code fovea serve --max-image-pixels --max-request-pixels} does) reach
 * both APIs; here one 32x32 picture per image and three per request, so raw frames can be counted cheaply.
 */
@Timeout(120)
class ConfiguredPixelLimitsTest {

    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start(64, SharedMemoryRegistry.disabled(), new ImageLimits(32 * 32, 3 * 32 * 32));
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static String invalid(Runnable call) {
        Status status = assertThrows(StatusRuntimeException.class, call::run).getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), status.toString());
        return status.getDescription();
    }

    private static PredictRequest predict(Image... images) {
        return PredictRequest.newBuilder().setModel("cnn").addAllImages(List.of(images)).build();
    }

    private static ModelInferRequest frames(int count, int side) {
        ByteBuffer bytes = ByteBuffer.allocate(count * side * side * 3);
        for (int i = 0; i < count; i++) {
            bytes.put(TestImages.rgb(TestImages.picture(side, side, i), side * 3));
        }
        return ModelInferRequest.newBuilder().setModelName("cnn").addInputs(ModelInferRequest.InferInputTensor
                .newBuilder().setName("input").setDatatype("UINT8").addShape(count).addShape(side).addShape(side)
                .addShape(3)).addRawInputContents(ByteString.copyFrom(bytes.flip())).build();
    }

    @Test
    void rawPixelFramesCountPerImageAndPerRequestOverPredict() {
        Image frame = TestImages.pixels(TestImages.picture(32, 32, 1));
        assertEquals(3, server.blocking().predict(predict(frame, frame, frame)).getResultsCount());
        assertEquals("images[3].pixels: the request's pictures reach 4096 pixels here, over the limit of 3072 "
                + "pixels per request", invalid(() -> server.blocking().predict(predict(frame, frame, frame, frame))));
        assertEquals("images[0].pixels: 33x32 pixels exceed the limit of 1024 pixels per image",
                invalid(() -> server.blocking().predict(predict(TestImages.pixels(TestImages.picture(33, 32, 1))))));
    }

    @Test
    void uint8FramesCountPerImageAndPerRequestOverModelInfer() {
        assertEquals(3, oip.modelInfer(frames(3, 32)).getOutputs(0).getShape(0));
        assertEquals("inputs[0][3]: the request's pictures reach 4096 pixels here, over the limit of 3072 pixels "
                + "per request", invalid(() -> oip.modelInfer(frames(4, 32))));
        assertTrue(invalid(() -> oip.modelInfer(frames(1, 33))).startsWith("inputs[0][0]: 33x33 pixels exceed"));
    }

    @Test
    void encodedImagesCountAsTheirHeadersSayOverBothApis() {
        Image png = TestImages.encoded(TestImages.picture(32, 32, 1), "png");
        assertEquals(1, server.blocking().predict(predict(png)).getResultsCount());
        assertEquals("images[0].encoded: 40x30 pixels exceed the limit of 1024 pixels per image", invalid(() ->
                server.blocking().predict(predict(TestImages.encoded(TestImages.picture(40, 30, 1), "png")))));
    }
}
