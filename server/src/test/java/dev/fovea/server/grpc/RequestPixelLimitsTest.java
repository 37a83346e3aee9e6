package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferTensorContents;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The default pixel limits (one 8K picture, 64 full-HD frames per request) over both APIs: a few hundred bytes of
 * JPEG claiming a huge picture, or pictures that together claim too much, are refused by the size their headers
 * claim, naming the field, before anything reaches the model; ordinary pictures pass.
 */
@Timeout(120)
class RequestPixelLimitsTest {

    private static final String TOO_LARGE = "16384x4096 pixels exceed the limit of 33177600 pixels per image";
    /** Four 8K pictures reach the request limit exactly (4 x 33177600 = 64 x 1920 x 1080). */
    private static final long EIGHT_K = 7680L * 4320;

    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;
    private static ModelRunner cnn;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS);
        cnn = server.server().repository().find("cnn").orElseThrow().runner();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    /** The description of the INVALID_ARGUMENT that {@code call} fails with; the model ran nothing meanwhile. */
    private static String refusedBeforeTheModel(Supplier<?> call) {
        long batches = cnn.batchesRun();
        Status status = assertThrows(StatusRuntimeException.class, call::get).getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), status.toString());
        assertEquals(batches, cnn.batchesRun(), "nothing reached the model");
        return status.getDescription();
    }

    private static String predictRefused(Image... images) {
        return refusedBeforeTheModel(() -> server.blocking().predict(PredictRequest.newBuilder().setModel("cnn")
                .addAllImages(List.of(images)).build()));
    }

    private static Image claiming(int width, int height) {
        return TestImages.encodedClaiming(width, height);
    }

    private static Image[] eightK(int count) {
        Image[] images = new Image[count];
        Arrays.fill(images, claiming(7680, 4320));
        return images;
    }

    /** A BYTES [n] input of encoded files, in raw_input_contents (4-byte little-endian length before each). */
    private static ModelInferRequest rawBytes(byte[]... files) {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (byte[] file : files) {
            raw.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(file.length).array());
            raw.writeBytes(file);
        }
        return ModelInferRequest.newBuilder().setModelName("cnn").addInputs(ModelInferRequest.InferInputTensor
                .newBuilder().setName("input").setDatatype("BYTES").addShape(files.length))
                .addRawInputContents(ByteString.copyFrom(raw.toByteArray())).build();
    }

    @Test
    void aTinyJpegClaiming16384x4096IsRefusedOverPredict() {
        assertTrue(TestImages.jpegClaiming(16384, 4096).length < 1024, "the file is tiny");
        assertEquals("images[1].encoded: " + TOO_LARGE,
                predictRefused(TestImages.pixels(TestImages.picture(32, 32, 1)), claiming(16384, 4096)));
    }

    @Test
    void aTinyJpegClaiming16384x4096IsRefusedOverStreamPredictAndTheStreamGoesOn() throws Exception {
        long batches = cnn.batchesRun();
        List<StreamPredictResponse> responses = OneStream.run(server, StreamOptions.newBuilder().setModel("cnn")
                .build(), claiming(16384, 4096), TestImages.encoded(TestImages.picture(40, 30, 2), "jpg"));
        assertEquals(2, responses.size());
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), responses.get(0).getError().getCode());
        assertEquals("frame.image.encoded: " + TOO_LARGE, responses.get(0).getError().getMessage());
        assertTrue(responses.get(1).hasResult(), responses.get(1).toString());
        assertEquals(batches + 1, cnn.batchesRun(), "only the good frame ran");
    }

    @Test
    void aTinyJpegClaiming16384x4096IsRefusedOverModelInfer() {
        byte[] claim = TestImages.jpegClaiming(16384, 4096);
        assertEquals("inputs[0][0]: " + TOO_LARGE, refusedBeforeTheModel(() -> oip.modelInfer(rawBytes(claim))));
        ModelInferRequest typed = ModelInferRequest.newBuilder().setModelName("cnn").addInputs(ModelInferRequest
                .InferInputTensor.newBuilder().setName("input").setDatatype("BYTES").addShape(1)
                .setContents(InferTensorContents.newBuilder().addBytesContents(ByteString.copyFrom(claim)))).build();
        assertEquals("inputs[0].contents[0]: " + TOO_LARGE, refusedBeforeTheModel(() -> oip.modelInfer(typed)));
    }

    @Test
    void picturesThatTogetherExceedTheRequestLimitAreRefused() {
        assertEquals("images[4].encoded: the request's pictures reach " + 5 * EIGHT_K + " pixels here, over the limit"
                + " of 132710400 pixels per request", predictRefused(eightK(5)));
        byte[] claim = TestImages.jpegClaiming(7680, 4320);
        assertTrue(refusedBeforeTheModel(() -> oip.modelInfer(rawBytes(claim, claim, claim, claim, claim)))
                .startsWith("inputs[0][4]: the request's pictures reach " + 5 * EIGHT_K + " pixels"));
    }

    @Test
    void rawFramesCountTowardTheSameRequestLimit() {
        Image[] images = Arrays.copyOf(eightK(4), 5);
        images[4] = TestImages.pixels(TestImages.picture(8, 8, 1));
        assertTrue(predictRefused(images).startsWith("images[4].pixels: the request's pictures reach "
                + (4 * EIGHT_K + 64) + " pixels here"));
    }

    @Test
    void unreadableHeadersAreRefusedByTheirField() {
        Image truncated = Image.newBuilder().setEncoded(EncodedImage.newBuilder().setData(ByteString.copyFrom(
                Arrays.copyOf(TestImages.jpegClaiming(640, 480), 30)))).build();
        assertEquals("images[0].encoded: JPEG: the file ends before its frame header (SOFn)",
                predictRefused(truncated));
        assertEquals("inputs[0][0]: not a JPEG or PNG image",
                refusedBeforeTheModel(() -> oip.modelInfer(rawBytes("GIF89a".getBytes()))));
    }

    @Test
    void ordinaryPicturesPass() {
        var response = server.blocking().predict(PredictRequest.newBuilder().setModel("cnn")
                .addImages(TestImages.encoded(TestImages.picture(640, 480, 1), "jpg"))
                .addImages(TestImages.encoded(TestImages.picture(300, 200, 2), "png"))
                .addImages(TestImages.pixels(TestImages.picture(64, 48, 3))).build());
        assertEquals(3, response.getResultsCount());
        byte[] png = TestImages.file(TestImages.picture(320, 240, 4), "png");
        assertEquals(2, oip.modelInfer(rawBytes(png, png)).getOutputs(0).getShape(0));
    }
}
