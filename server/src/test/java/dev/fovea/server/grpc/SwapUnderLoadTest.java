package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.server.ModelFolders;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.torch.MallocHeap;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.UnloadModelRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The zero-downtime swap under load: clients stream continuously over fovea.v1 StreamPredict and the Open Inference
 * Protocol's ModelStreamInfer while the model is replaced five times (one of them by a broken version). Every frame
 * must be answered, in order, without an error; each response names the version that ran it; only one version is
 * loaded at the end and the native heap is back near where one loaded model left it. Waits are bounded by counts of
 * answered frames, never by time (the class timeout only guards against a hang).
 */
@Timeout(170)
class SwapUnderLoadTest {

    /** Frames each client must get answered between two swaps, so every swap happens under load. */
    private static final int FRAMES_BETWEEN_SWAPS = 8;

    @TempDir
    Path repository;

    private TestServer server;

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** A stream client keeping two frames in flight until told to stop; it records what came back. */
    private abstract static class Streamer {
        final CompletableFuture<Status> done = new CompletableFuture<>();
        final List<Long> ids = new ArrayList<>();
        final List<String> versions = new ArrayList<>();
        final List<String> errors = new ArrayList<>();
        long sent;
        boolean stopping;

        synchronized int answered() {
            return ids.size();
        }

        synchronized void stopSending() {
            stopping = true;
            if (sent == ids.size() + errors.size()) {
                finish();
            }
        }

        /** Records one answer and sends the next frame, or half-closes once stopping and all is answered. */
        synchronized void answered(long id, String version, String error) {
            if (error.isEmpty()) {
                ids.add(id);
                versions.add(version);
            } else {
                errors.add(id + ": " + error);
            }
            if (!stopping) {
                send(sent++);
            } else if (sent == ids.size() + errors.size()) {
                finish();
            }
        }

        synchronized void start() {
            send(sent++);
            send(sent++);
        }

        abstract void send(long id);

        abstract void finish();
    }

    private static final class FoveaStreamer extends Streamer
            implements ClientResponseObserver<StreamPredictRequest, StreamPredictResponse> {
        private final Image image = TestImages.pixels(TestImages.picture(40, 40, 3));
        private ClientCallStreamObserver<StreamPredictRequest> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<StreamPredictRequest> requests) {
            this.requests = requests;
        }

        @Override
        void send(long id) {
            requests.onNext(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(id)
                    .setImage(image)).build());
        }

        @Override
        void finish() {
            requests.onCompleted();
        }

        @Override
        public void onNext(StreamPredictResponse response) {
            answered(response.getFrameId(), response.getModelVersion(),
                    response.hasError() ? response.getError().getMessage() : "");
        }

        @Override
        public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            done.complete(Status.OK);
        }
    }

    private static final class OipStreamer extends Streamer
            implements ClientResponseObserver<ModelInferRequest, ModelStreamInferResponse> {
        private final ByteString pixels = ByteString.copyFrom(TestImages.rgb(TestImages.picture(32, 32, 5), 96));
        private ClientCallStreamObserver<ModelInferRequest> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<ModelInferRequest> requests) {
            this.requests = requests;
        }

        @Override
        void send(long id) {
            requests.onNext(ModelInferRequest.newBuilder().setModelName("cnn").setId(Long.toString(id))
                    .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input").setDatatype("UINT8")
                            .addShape(1).addShape(32).addShape(32).addShape(3))
                    .addRawInputContents(pixels).build());
        }

        @Override
        void finish() {
            requests.onCompleted();
        }

        @Override
        public void onNext(ModelStreamInferResponse response) {
            answered(Long.parseLong(response.getInferResponse().getId()), response.getInferResponse()
                    .getModelVersion(), response.getErrorMessage());
        }

        @Override
        public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            done.complete(Status.OK);
        }
    }

    private FoveaStreamer foveaStream() {
        FoveaStreamer streamer = new FoveaStreamer();
        server.async().streamPredict(streamer);
        streamer.requests.onNext(StreamPredictRequest.newBuilder().setOptions(StreamOptions.newBuilder()
                .setModel("cnn").setTopK(1)).build());
        streamer.start();
        return streamer;
    }

    private OipStreamer oipStream() {
        OipStreamer streamer = new OipStreamer();
        GRPCInferenceServiceGrpc.newStub(server.channel()).modelStreamInfer(streamer);
        streamer.start();
        return streamer;
    }

    /** Waits until every client has had {@code frames} more frames answered (each answer sends the next frame). */
    private static void awaitAnswers(List<Streamer> clients, int frames) throws InterruptedException {
        List<Integer> targets = clients.stream().map(client -> client.answered() + frames).toList();
        for (int i = 0; i < clients.size(); i++) {
            while (clients.get(i).answered() < targets.get(i)) {
                assertFalse(clients.get(i).done.isDone(), "a stream ended early: " + clients.get(i).done);
                Thread.sleep(5);
            }
        }
    }

    @Test
    void streamsGoOnAcrossFiveSwapsWithNoFrameFailedLostOrOutOfOrder() throws Exception {
        Path cnn = ModelFolders.versioned(repository, "cnn", 1);
        server = TestServer.start(repository, ModelRepository.ControlMode.EXPLICIT, List.of("cnn"));
        ModelRepository models = server.server().repository();
        List<Streamer> clients = List.of(foveaStream(), foveaStream(), oipStream(), oipStream());
        awaitAnswers(clients, FRAMES_BETWEEN_SWAPS);
        MallocHeap.trim();
        long oneModel = MallocHeap.available() ? MallocHeap.bytesInUse() : 0;

        for (int version = 2; version <= 6; version++) {
            if (version == 4) {
                ModelFolders.addBrokenVersion(cnn, version);
                Status.Code refused = assertThrows(StatusRuntimeException.class, () -> server.blocking()
                        .loadModel(LoadModelRequest.newBuilder().setName("cnn").build())).getStatus().getCode();
                assertEquals(Status.Code.FAILED_PRECONDITION, refused, "the broken version is reported");
            } else {
                ModelFolders.addVersion(cnn, version);
                assertEquals(String.valueOf(version), server.blocking().loadModel(LoadModelRequest.newBuilder()
                        .setName("cnn").build()).getVersion());
            }
            assertEquals(1, models.loadedVersions(), "the replaced version was retired");
            awaitAnswers(clients, FRAMES_BETWEEN_SWAPS);
        }

        clients.forEach(Streamer::stopSending);
        for (Streamer client : clients) {
            assertEquals(Status.Code.OK, client.done.get(60, TimeUnit.SECONDS).getCode());
            synchronized (client) {
                assertEquals(List.of(), client.errors, "no frame failed");
                assertEquals(client.sent, client.ids.size(), "every frame was answered");
                for (int i = 0; i < client.ids.size(); i++) {
                    assertEquals(i, client.ids.get(i), "answered in order");
                }
                List<Long> versions = client.versions.stream().map(Long::parseLong).toList();
                for (int i = 1; i < versions.size(); i++) {
                    assertTrue(versions.get(i) >= versions.get(i - 1), "versions only move forward: " + versions);
                }
                assertEquals(List.of(1L, 2L, 3L, 5L, 6L), versions.stream().distinct().toList(),
                        "every frame ran on the version serving when it arrived, and no frame on the broken one");
            }
        }
        MallocHeap.trim();
        if (MallocHeap.available()) {
            long growth = MallocHeap.bytesInUse() - oneModel;
            assertTrue(growth < 32L << 20, "five loaded-and-retired versions left " + growth + " bytes behind");
        }
        server.blocking().unloadModel(UnloadModelRequest.newBuilder().setName("cnn").build());
        assertEquals(0, models.loadedVersions());
    }

    @Test
    void unloadingTheModelEndsItsStreamsAfterTheirAcceptedFramesAreAnswered() throws Exception {
        ModelFolders.versioned(repository, "cnn", 1);
        server = TestServer.start(repository, ModelRepository.ControlMode.EXPLICIT, List.of("cnn"));
        FoveaStreamer streamer = foveaStream();
        awaitAnswers(List.of(streamer), FRAMES_BETWEEN_SWAPS);
        server.blocking().unloadModel(UnloadModelRequest.newBuilder().setName("cnn").build());
        Status end = streamer.done.get(60, TimeUnit.SECONDS);
        assertEquals(Status.Code.UNAVAILABLE, end.getCode());
        assertEquals("model 'cnn' was unloaded", end.getDescription());
        synchronized (streamer) {
            assertEquals(List.of(), streamer.errors, "no accepted frame failed");
            for (int i = 0; i < streamer.ids.size(); i++) {
                assertEquals(i, streamer.ids.get(i), "answered in order");
            }
            assertTrue(streamer.sent - streamer.ids.size() <= 2, "only frames the unload found were left: sent "
                    + streamer.sent + ", answered " + streamer.ids.size());
        }
    }
}
