package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.DataType;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.RawTensor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every bad request gets a status naming the problem, nothing bad is queued, and the server keeps serving. */
class BadRequestTest {

    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start(2);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @AfterEach
    void serverStillServes() {
        PredictResponse response = server.blocking().predict(PredictRequest.newBuilder().setModel("cnn")
                .addImages(TestImages.pixels(TestImages.picture(32, 32, 4))).build());
        assertEquals(5, response.getResults(0).getClassesCount());
    }

    private static StatusRuntimeException fails(String model, Image... images) {
        return assertThrows(StatusRuntimeException.class, () -> server.blocking().predict(
                PredictRequest.newBuilder().setModel(model).addAllImages(List.of(images)).build()));
    }

    private static void assertStatus(Status.Code code, String inMessage, StatusRuntimeException e) {
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(inMessage), e.getStatus().getDescription());
    }

    private static Image pixels(int width, int height, int stride, int bytes, PixelFormat format) {
        return Image.newBuilder().setPixels(RawPixels.newBuilder().setWidth(width).setHeight(height)
                .setRowStride(stride).setFormat(format).setData(ByteString.copyFrom(new byte[bytes]))).build();
    }

    @Test
    void unknownModelIsNotFoundAndListsTheModels() {
        StatusRuntimeException e = fails("nope", TestImages.pixels(TestImages.picture(8, 8, 0)));
        assertStatus(Status.Code.NOT_FOUND, "model 'nope' is not in the repository", e);
        assertTrue(e.getStatus().getDescription().contains("cnn"));
        assertStatus(Status.Code.NOT_FOUND, "nope", assertThrows(StatusRuntimeException.class,
                () -> server.blocking().getModel(GetModelRequest.newBuilder().setName("nope").build())));
    }

    @Test
    void modelThatFailedToLoadIsUnavailableWithTheReason() {
        assertStatus(Status.Code.UNAVAILABLE, "model 'broken' is not serving",
                fails("broken", TestImages.pixels(TestImages.picture(8, 8, 0))));
    }

    @Test
    void undecodableImageIsInvalidArgument() {
        Image garbage = Image.newBuilder().setEncoded(EncodedImage.newBuilder()
                .setData(ByteString.copyFromUtf8("GIF89a, not what we take"))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].encoded: not a JPEG or PNG image", fails("cnn", garbage));
        // A readable header over cut-off data: the decoder refuses it.
        byte[] jpeg = TestImages.file(TestImages.picture(40, 30, 1), "jpg");
        Image truncated = Image.newBuilder().setEncoded(EncodedImage.newBuilder()
                .setData(ByteString.copyFrom(jpeg, 0, jpeg.length - 10))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "image 0: JPEG", fails("cnn", truncated));
    }

    @Test
    void emptyRequestsAndImagesAreInvalid() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "images is empty", fails("cnn"));
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0]: no image data", fails("cnn", Image.getDefaultInstance()));
        Image empty = Image.newBuilder().setEncoded(EncodedImage.getDefaultInstance()).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].encoded.data is empty", fails("cnn", empty));
    }

    @Test
    void zeroAndOversizedDimensionsAreInvalid() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].pixels: width and height must be at least 1",
                fails("cnn", pixels(0, 4, 0, 12, PixelFormat.PIXEL_FORMAT_RGB)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].pixels: 20000x2 is too large",
                fails("cnn", pixels(20_000, 2, 0, 120_000, PixelFormat.PIXEL_FORMAT_RGB)));
    }

    @Test
    void strideAndLengthMismatchesAreInvalid() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].pixels.row_stride 10 is less than",
                fails("cnn", pixels(4, 4, 10, 40, PixelFormat.PIXEL_FORMAT_RGB)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[1].pixels.data holds 47 bytes",
                fails("cnn", TestImages.pixels(TestImages.picture(8, 8, 0)),
                        pixels(4, 4, 0, 47, PixelFormat.PIXEL_FORMAT_RGB)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].pixels.format is not set",
                fails("cnn", pixels(4, 4, 0, 48, PixelFormat.PIXEL_FORMAT_UNSPECIFIED)));
    }

    @Test
    void wrongTensorDtypeOrShapeIsInvalid() {
        Image noDtype = Image.newBuilder().setTensor(RawTensor.newBuilder().addShape(1)
                .setData(ByteString.copyFrom(new byte[4]))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].tensor.dtype is not set", fails("raw", noDtype));
        Image shortData = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(4).setData(ByteString.copyFrom(new byte[15]))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "images[0].tensor.data holds 15 bytes", fails("raw", shortData));
        // The raw model sums over dimension 1, which a batch of scalars does not have: libtorch's message comes back.
        Image scalar = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .setData(ByteString.copyFrom(new byte[4]))).build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "imension", fails("raw", scalar));
        // A uint8 tensor where the CNN wants float32.
        Image bytes = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_UINT8)
                .addShape(3).addShape(32).addShape(32).setData(ByteString.copyFrom(new byte[3 * 32 * 32]))).build();
        assertEquals(Status.Code.INVALID_ARGUMENT, fails("cnn", bytes).getStatus().getCode());
    }

    @Test
    void mixingTensorsAndPicturesOrExceedingTheBatchLimitIsInvalid() {
        Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(3).addShape(32).addShape(32).setData(ByteString.copyFrom(new byte[4 * 3 * 32 * 32])))
                .build();
        assertStatus(Status.Code.INVALID_ARGUMENT, "must not mix",
                fails("cnn", TestImages.pixels(TestImages.picture(8, 8, 0)), tensor));
        Image[] nine = new Image[9];
        java.util.Arrays.fill(nine, TestImages.pixels(TestImages.picture(8, 8, 0)));
        assertStatus(Status.Code.INVALID_ARGUMENT, "max_batch_size 8", fails("cnn", nine));
    }

    @Test
    void requestWhoseDeadlinePassedInTheQueueIsNotRun() throws Exception {
        ModelRunner slow = server.server().repository().find("slow").orElseThrow().runner();
        long before = slow.batchesRun();
        CompletableFuture<PredictResponse> first = predictAsync("slow", Long.MAX_VALUE);
        // The late request must queue behind a running one: wait until the first has reached the model.
        long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (slow.batchesRun() == before && System.nanoTime() < waitUntil) {
            Thread.sleep(1);
        }
        StatusRuntimeException late = assertThrows(StatusRuntimeException.class, () -> server.blocking()
                .withDeadlineAfter(20, TimeUnit.MILLISECONDS)
                .predict(PredictRequest.newBuilder().setModel("slow")
                        .addImages(TestImages.pixels(TestImages.picture(16, 16, 0))).build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, late.getStatus().getCode());
        first.get(30, TimeUnit.SECONDS);
        // Give the runner time to reach (and drop) the late request before counting.
        predictAsync("slow", Long.MAX_VALUE).get(30, TimeUnit.SECONDS);
        assertEquals(before + 2, slow.batchesRun(), "only the two requests without a deadline ran");
    }

    @Test
    void fullQueueIsResourceExhausted() throws Exception {
        List<CompletableFuture<PredictResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            calls.add(predictAsync("slow", Long.MAX_VALUE));
        }
        int exhausted = 0;
        int served = 0;
        for (CompletableFuture<PredictResponse> call : calls) {
            try {
                call.get(30, TimeUnit.SECONDS);
                served++;
            } catch (java.util.concurrent.ExecutionException e) {
                Status status = Status.fromThrowable(e.getCause());
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode(), status.toString());
                assertTrue(status.getDescription().contains("retry later"));
                exhausted++;
            }
        }
        assertTrue(exhausted >= 1 && served >= 1, "served " + served + ", exhausted " + exhausted);
    }

    private static CompletableFuture<PredictResponse> predictAsync(String model, long deadlineMillis) {
        CompletableFuture<PredictResponse> result = new CompletableFuture<>();
        var stub = server.async();
        if (deadlineMillis != Long.MAX_VALUE) {
            stub = stub.withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS);
        }
        stub.predict(PredictRequest.newBuilder().setModel(model)
                .addImages(TestImages.pixels(TestImages.picture(16, 16, 0))).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(PredictResponse value) {
                        result.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {}
                });
        return result;
    }
}
