package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** StreamPredict: order, flow control, latest-only skipping, per-frame errors and cancellation. */
class StreamTest {

    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    /**
     * A client that sends frames only while the call is ready (outbound flow control), records every response and
     * completes when the server ends the stream.
     */
    private static final class Client implements ClientResponseObserver<StreamPredictRequest, StreamPredictResponse> {
        final List<StreamPredictResponse> responses = new ArrayList<>();
        final CompletableFuture<Status> done = new CompletableFuture<>();
        private final StreamOptions options;
        private final List<Image> frames;
        private final boolean ignoreFlowControl;
        private ClientCallStreamObserver<StreamPredictRequest> requests;
        private int next;
        private boolean optionsSent;

        Client(StreamOptions options, List<Image> frames, boolean ignoreFlowControl) {
            this.options = options;
            this.frames = frames;
            this.ignoreFlowControl = ignoreFlowControl;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<StreamPredictRequest> requests) {
            this.requests = requests;
            requests.setOnReadyHandler(this::sendWhileReady);
        }

        private synchronized void sendWhileReady() {
            if (!optionsSent) {
                optionsSent = true;
                requests.onNext(StreamPredictRequest.newBuilder().setOptions(options).build());
            }
            while (next < frames.size() && (ignoreFlowControl || requests.isReady())) {
                requests.onNext(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(next)
                        .setImage(frames.get(next))).build());
                next++;
            }
            if (next == frames.size()) {
                next++;
                requests.onCompleted();
            }
        }

        @Override
        public synchronized void onNext(StreamPredictResponse response) {
            responses.add(response);
        }

        @Override
        public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            done.complete(Status.OK);
        }

        synchronized List<StreamPredictResponse> responses() {
            return List.copyOf(responses);
        }

        ClientCallStreamObserver<StreamPredictRequest> call() {
            return requests;
        }
    }

    private static Client stream(StreamOptions options, List<Image> frames, boolean ignoreFlowControl) {
        Client client = new Client(options, frames, ignoreFlowControl);
        server.async().streamPredict(client);
        return client;
    }

    private static List<Image> frames(int count, int size) {
        List<Image> frames = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            frames.add(TestImages.pixels(TestImages.picture(size, size, i % 13)));
        }
        return frames;
    }

    @Test
    void thousandFramesComeBackInOrderWithMatchingIds() throws Exception {
        Client client = stream(StreamOptions.newBuilder().setModel("cnn").setTopK(1).build(), frames(1000, 32),
                false);
        assertEquals(Status.Code.OK, client.done.get(120, TimeUnit.SECONDS).getCode());
        List<StreamPredictResponse> responses = client.responses();
        assertEquals(1000, responses.size());
        for (int i = 0; i < responses.size(); i++) {
            assertEquals(i, responses.get(i).getFrameId());
            assertTrue(responses.get(i).hasResult(), responses.get(i).toString());
            assertEquals(1, responses.get(i).getResult().getClassesCount());
        }
    }

    @Test
    void everyFrameModeRunsEveryFrameEvenWhenTheClientIgnoresFlowControl() throws Exception {
        Client client = stream(StreamOptions.newBuilder().setModel("slow")
                .setMode(StreamMode.STREAM_MODE_EVERY_FRAME).build(), frames(8, 16), true);
        assertEquals(Status.Code.OK, client.done.get(60, TimeUnit.SECONDS).getCode());
        assertEquals(8, client.responses().stream().filter(StreamPredictResponse::hasResult).count());
    }

    @Test
    void latestOnlySkipsStaleFramesAndReportsEverySkip() throws Exception {
        int count = 30;
        Client client = stream(StreamOptions.newBuilder().setModel("slow")
                .setMode(StreamMode.STREAM_MODE_LATEST_ONLY).build(), frames(count, 16), true);
        assertEquals(Status.Code.OK, client.done.get(60, TimeUnit.SECONDS).getCode());
        List<StreamPredictResponse> responses = client.responses();
        assertEquals(count, responses.size(), "one response per frame: none lost");
        int skipped = 0;
        for (int i = 0; i < count; i++) {
            StreamPredictResponse response = responses.get(i);
            assertEquals(i, response.getFrameId());
            if (response.hasSkipped()) {
                skipped++;
                assertTrue(response.getSkipped().getSupersededBy() > i, response.toString());
            } else {
                assertTrue(response.hasResult(), response.toString());
            }
        }
        assertTrue(skipped > 0, "a slow model fed 30 frames at once skips some");
        assertTrue(responses.get(count - 1).hasResult(), "the newest frame always runs");
    }

    @Test
    void badFrameGetsAnErrorAndTheStreamGoesOn() throws Exception {
        List<Image> frames = new ArrayList<>(frames(3, 32));
        frames.set(1, Image.getDefaultInstance());
        Client client = stream(StreamOptions.newBuilder().setModel("cnn").build(), frames, false);
        assertEquals(Status.Code.OK, client.done.get(30, TimeUnit.SECONDS).getCode());
        List<StreamPredictResponse> responses = client.responses();
        assertEquals(3, responses.size());
        assertTrue(responses.get(0).hasResult());
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), responses.get(1).getError().getCode());
        assertTrue(responses.get(1).getError().getMessage().contains("frame.image: no image data"));
        assertTrue(responses.get(2).hasResult());
    }

    @Test
    void streamMustStartWithOptionsForAKnownModel() throws Exception {
        Client unknown = stream(StreamOptions.newBuilder().setModel("nope").build(), frames(1, 8), false);
        assertEquals(Status.Code.NOT_FOUND, unknown.done.get(10, TimeUnit.SECONDS).getCode());

        CompletableFuture<Status> done = new CompletableFuture<>();
        var requests = server.async().streamPredict(new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(StreamPredictResponse value) {}

            @Override
            public void onError(Throwable t) {
                done.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                done.complete(Status.OK);
            }
        });
        requests.onNext(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(1)).build());
        Status status = done.get(10, TimeUnit.SECONDS);
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().contains("first message of a stream must carry StreamOptions"));
    }

    @Test
    void streamFramesAndUnaryRequestsShareBatches() throws Exception {
        // The batched model waits up to 300 ms for a batch to fill: the frame and the request arrive well within it.
        Client client = stream(StreamOptions.newBuilder().setModel("batched").build(), frames(1, 32), false);
        dev.fovea.v1.PredictResponse unary = server.blocking().predict(dev.fovea.v1.PredictRequest.newBuilder()
                .setModel("batched").addImages(TestImages.pixels(TestImages.picture(32, 32, 5))).build());
        assertEquals(Status.Code.OK, client.done.get(30, TimeUnit.SECONDS).getCode());
        assertEquals(2, unary.getResults(0).getTimings().getBatchSize());
        assertEquals(2, client.responses().getFirst().getResult().getTimings().getBatchSize());
    }

    @Test
    void cancellingMidStreamDropsTheQueuedFrames() throws Exception {
        ModelRunner slow = server.server().repository().find("slow").orElseThrow().runner();
        long before = slow.batchesRun();
        Client client = stream(StreamOptions.newBuilder().setModel("slow").build(), frames(50, 16), true);
        Thread.sleep(30);
        client.call().cancel("test cancels", null);
        assertEquals(Status.Code.CANCELLED, client.done.get(10, TimeUnit.SECONDS).getCode());
        // Wait for the runner to go idle, then count: at most the frame that was running and the one queued behind it
        // started; the other 48 were never read, thanks to flow control, or were dropped.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (slow.queueDepth() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        Thread.sleep(300);
        long ran = slow.batchesRun() - before;
        assertTrue(ran <= 2, ran + " frames ran after the stream was cancelled");
        assertEquals(0, slow.queueDepth());
    }
}
