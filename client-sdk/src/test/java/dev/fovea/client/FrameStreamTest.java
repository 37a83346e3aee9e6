package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.client.FakeInferenceService.FakeStream;
import dev.fovea.v1.Frame;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FrameStreamTest {

    private static final StreamOptions SHAPES = StreamOptions.newBuilder().setModel("shapes").setTopK(2).build();

    private InProcessFovea server;
    private FoveaClient client;
    private final ExecutorService senders = Executors.newCachedThreadPool();

    @BeforeEach
    void start() throws Exception {
        server = new InProcessFovea();
        client = FoveaClient.using(server.channel).build();
    }

    @AfterEach
    void stop() throws Exception {
        senders.shutdownNow();
        client.close();
        server.close();
    }

    static Frame frame(long id) {
        return Frame.newBuilder().setFrameId(id)
                .setImage(Images.pixels(new byte[] {1, 2, 3}, 1, 1, 0, PixelFormat.PIXEL_FORMAT_RGB)).build();
    }

    private FakeStream serverSide() throws InterruptedException {
        FakeStream stream = server.service.streams.poll(5, TimeUnit.SECONDS);
        assertTrue(stream != null, "the server saw the stream");
        return stream;
    }

    private static void eventually(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(5);
        }
    }

    @Test
    void optionsGoFirstAndResponsesComeBackInFrameOrder() throws Exception {
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(SHAPES, listener);
        for (long id = 1; id <= 50; id++) {
            stream.send(frame(id));
        }
        stream.complete();

        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
        assertEquals(Status.Code.OK, listener.awaitClose().getCode());
        assertEquals(LongStream.rangeClosed(1, 50).boxed().toList(), listener.frameIds());
        assertTrue(listener.responses.stream().allMatch(StreamPredictResponse::hasResult));
        List<StreamPredictRequest> received = serverSide().received;
        assertEquals(SHAPES, received.getFirst().getOptions());
        assertEquals(51, received.size());
        assertTrue(received.stream().skip(1).allMatch(StreamPredictRequest::hasFrame));
    }

    @Test
    void sendWaitsWhileTheServerIsNotReadingAndGoesOnWhenItReads() throws Exception {
        server.service.readStreamsAutomatically = false;
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(SHAPES, listener);
        FakeStream serverSide = serverSide();
        eventually(() -> serverSide.received.size() == 1, "the server read the options");

        assertFalse(stream.trySend(frame(1)), "trySend refuses what the call cannot take");
        Future<?> first = senders.submit(() -> {
            stream.send(frame(1));
            return null;
        });
        Thread.sleep(200);
        assertFalse(first.isDone(), "send waits instead of buffering");

        serverSide.request(1);
        first.get(5, TimeUnit.SECONDS);
        eventually(() -> serverSide.received.size() == 2, "frame 1 arrived");
        Future<?> second = senders.submit(() -> {
            stream.send(frame(2));
            return null;
        });
        Thread.sleep(200);
        assertFalse(second.isDone(), "the server read one frame, so one frame went through");

        serverSide.request(1);
        second.get(5, TimeUnit.SECONDS);
        stream.complete();
        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
        assertEquals(List.of(1L, 2L), listener.frameIds());
    }

    @Test
    void cancelReleasesAWaitingSenderAndEndsTheCallOnBothSides() throws Exception {
        server.service.readStreamsAutomatically = false;
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(SHAPES, listener);
        FakeStream serverSide = serverSide();
        eventually(() -> serverSide.received.size() == 1, "the server read the options");
        Future<?> blocked = senders.submit(() -> {
            stream.send(frame(1));
            return null;
        });
        Thread.sleep(100);

        stream.cancel("the camera stopped");

        ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(5, TimeUnit.SECONDS));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        Status status = listener.awaitClose();
        assertEquals(Status.Code.CANCELLED, status.getCode());
        assertEquals("the camera stopped", status.getDescription());
        assertTrue(serverSide.cancelled.await(5, TimeUnit.SECONDS), "the server saw the cancellation");
        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
        stream.cancel("again"); // does nothing
        stream.complete(); // does nothing
    }

    @Test
    void framesCannotBeSentAfterComplete() throws Exception {
        FrameStream stream = client.stream(SHAPES, new RecordingListener());
        stream.complete();
        stream.complete();
        assertThrows(IllegalStateException.class, () -> stream.send(frame(1)));
        assertThrows(IllegalStateException.class, () -> stream.trySend(frame(1)));
        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
    }

    @Test
    void aFrameErrorArrivesAsAResponseAndTheStreamGoesOn() throws Exception {
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(SHAPES, listener);
        stream.send(Frame.newBuilder().setFrameId(7).build());
        stream.send(frame(8));
        stream.complete();

        assertEquals(Status.Code.OK, listener.awaitClose().getCode());
        assertEquals(List.of(7L, 8L), listener.frameIds());
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), listener.responses.get(0).getError().getCode());
        assertTrue(listener.responses.get(1).hasResult());
    }

    @Test
    void badOptionsEndTheStreamWithTheServersStatusWhichLaterSendsThrow() throws Exception {
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(StreamOptions.newBuilder().setModel("missing").build(), listener);

        assertEquals(Status.Code.NOT_FOUND, listener.awaitClose().getCode());
        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stream.send(frame(1)));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertThrows(StatusRuntimeException.class, () -> stream.trySend(frame(1)));
    }

    @Test
    void theListenerMayTrySendButNotWaitToSend() throws Exception {
        AtomicReference<FrameStream> self = new AtomicReference<>();
        CompletableFuture<Boolean> tried = new CompletableFuture<>();
        CompletableFuture<Throwable> refusal = new CompletableFuture<>();
        RecordingListener listener = new RecordingListener() {
            @Override
            public void onResponse(StreamPredictResponse response) {
                super.onResponse(response);
                if (response.getFrameId() == 1) {
                    tried.complete(self.get().trySend(frame(2)));
                    try {
                        self.get().send(frame(3));
                    } catch (Throwable t) {
                        refusal.complete(t);
                    }
                }
            }
        };
        FrameStream stream = client.stream(SHAPES, listener);
        self.set(stream);
        stream.send(frame(1));

        assertInstanceOf(IllegalStateException.class, refusal.get(5, TimeUnit.SECONDS));
        // Whether the call had room for frame 2 at that instant is a race with the server; either answer is fine.
        List<Long> expected = tried.get(5, TimeUnit.SECONDS) ? List.of(1L, 2L) : List.of(1L);
        stream.complete();
        assertTrue(stream.awaitTermination(Duration.ofSeconds(5)));
        assertEquals(expected, listener.frameIds());
    }

    @Test
    void aListenerThatThrowsCancelsTheStream() throws Exception {
        RecordingListener listener = new RecordingListener() {
            @Override
            public void onResponse(StreamPredictResponse response) {
                throw new IllegalStateException("listener bug");
            }
        };
        FrameStream stream = client.stream(SHAPES, listener);
        stream.send(frame(1));

        assertEquals(Status.Code.CANCELLED, listener.awaitClose().getCode());
        assertTrue(serverSide().cancelled.await(5, TimeUnit.SECONDS));
    }
}
