package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.v1.Image;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.Result;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FoveaClientTest {

    private InProcessFovea server;
    private FoveaClient client;

    @BeforeEach
    void start() throws Exception {
        server = new InProcessFovea();
        client = FoveaClient.using(server.channel).build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
    }

    private PredictRequest recorded() throws InterruptedException {
        PredictRequest request = server.service.predictRequests.poll(5, TimeUnit.SECONDS);
        assertTrue(request != null, "the server received a Predict");
        return request;
    }

    @Test
    void predictFromAFileSendsItsBytesAsAnEncodedImage(@TempDir Path folder) throws Exception {
        byte[] jpeg = {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, 9, 8, 7};
        Result result = client.predict("shapes", Files.write(folder.resolve("a.jpg"), jpeg));

        assertEquals("circle", result.getClasses(0).getLabel());
        PredictRequest request = recorded();
        assertEquals("shapes", request.getModel());
        assertEquals(1, request.getImagesCount());
        assertArrayEquals(jpeg, request.getImages(0).getEncoded().getData().toByteArray());
    }

    @Test
    void predictFromABufferedImageSendsRawRgbPixels() throws Exception {
        BufferedImage image = new BufferedImage(2, 1, BufferedImage.TYPE_3BYTE_BGR);
        image.setRGB(0, 0, 0x102030);
        image.setRGB(1, 0, 0xA0B0C0);
        client.predict("shapes", image);

        RawPixels pixels = recorded().getImages(0).getPixels();
        assertEquals(PixelFormat.PIXEL_FORMAT_RGB, pixels.getFormat());
        assertEquals(2, pixels.getWidth());
        assertEquals(1, pixels.getHeight());
        assertArrayEquals(new byte[] {0x10, 0x20, 0x30, (byte) 0xA0, (byte) 0xB0, (byte) 0xC0},
                pixels.getData().toByteArray());
    }

    @Test
    void predictPixelsSendsTheLayoutItWasGiven() throws Exception {
        byte[] gray = {1, 2, 3, 0, 4, 5, 6};
        client.predictPixels("shapes", gray, 3, 2, 4, PixelFormat.PIXEL_FORMAT_GRAY);

        RawPixels pixels = recorded().getImages(0).getPixels();
        assertEquals(PixelFormat.PIXEL_FORMAT_GRAY, pixels.getFormat());
        assertEquals(4, pixels.getRowStride());
        assertArrayEquals(gray, pixels.getData().toByteArray());
    }

    @Test
    void serverErrorsArriveAsStatusRuntimeExceptionsWithTheirCode() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> client.predictPixels("missing", new byte[3], 1, 1, 0, PixelFormat.PIXEL_FORMAT_RGB));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertEquals("no model named \"missing\"", e.getStatus().getDescription());
        assertEquals(Status.Code.NOT_FOUND,
                assertThrows(StatusRuntimeException.class, () -> client.getModel("nope")).getStatus().getCode());
    }

    @Test
    void defaultDeadlineEndsASlowCallWithDeadlineExceededAndTheServerSeesItCancelled() throws Exception {
        try (FoveaClient impatient = FoveaClient.using(server.channel).defaultDeadline(Duration.ofMillis(100))
                .build()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> impatient.predict(
                    PredictRequest.newBuilder().setModel("hang").build()));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        }
        assertTrue(server.service.hangCancelled.await(5, TimeUnit.SECONDS));
    }

    @Test
    void predictAsyncCompletesWithTheResponse() throws Exception {
        Image pixel = Images.pixels(new byte[3], 1, 1, 0, PixelFormat.PIXEL_FORMAT_RGB);
        PredictResponse response = client.predictAsync(
                PredictRequest.newBuilder().setModel("shapes").addImages(pixel).addImages(pixel).build())
                .get(5, TimeUnit.SECONDS);
        assertEquals(2, response.getResultsCount());
        assertEquals(2, response.getResults(1).getTimings().getBatchSize());
    }

    @Test
    void predictAsyncFailsWithTheServersStatus() {
        CompletableFuture<PredictResponse> future = client.predictAsync(
                PredictRequest.newBuilder().setModel("missing").build());
        ExecutionException e = assertThrows(ExecutionException.class, () -> future.get(5, TimeUnit.SECONDS));
        StatusRuntimeException cause = assertInstanceOf(StatusRuntimeException.class, e.getCause());
        assertEquals(Status.Code.NOT_FOUND, cause.getStatus().getCode());
    }

    @Test
    void cancellingTheFutureCancelsTheCallOnTheServer() throws Exception {
        CompletableFuture<PredictResponse> future = client.predictAsync(
                PredictRequest.newBuilder().setModel("hang").build());
        recorded(); // the call reached the server
        assertTrue(future.cancel(true));

        assertTrue(server.service.hangCancelled.await(5, TimeUnit.SECONDS), "the server saw the cancellation");
        assertThrows(CancellationException.class, future::join);
    }

    @Test
    void cancellingADerivedStageLeavesTheCallRunning() throws Exception {
        CompletableFuture<PredictResponse> future = client.predictAsync(
                PredictRequest.newBuilder().setModel("hang").build());
        recorded();
        assertTrue(future.thenApply(PredictResponse::getModel).cancel(true));

        assertFalse(server.service.hangCancelled.await(200, TimeUnit.MILLISECONDS));
        assertFalse(future.isDone());
        future.cancel(true);
    }

    @Test
    void listModelsAndGetModelReturnTheServersDescriptions() {
        List<ModelInfo> models = client.listModels();
        assertEquals(FakeInferenceService.MODELS, models);
        assertEquals(4, client.getModel("shapes").getLabelsCount());
    }

    @Test
    void closingTheClientLeavesABorrowedChannelOpenAndRefusesFurtherCalls() {
        client.close();
        client.close();
        assertFalse(server.channel.isShutdown());
        assertThrows(IllegalStateException.class, client::listModels);
        try (FoveaClient again = FoveaClient.using(server.channel).build()) {
            assertEquals(2, again.listModels().size());
        }
    }

    @Test
    void transportSettingsAreRefusedForABorrowedChannel() {
        assertThrows(IllegalStateException.class, () -> FoveaClient.using(server.channel).useTransportSecurity());
        assertThrows(IllegalArgumentException.class,
                () -> FoveaClient.forTarget("localhost:1").defaultDeadline(Duration.ZERO));
    }
}
