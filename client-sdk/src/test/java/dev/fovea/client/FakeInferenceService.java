package dev.fovea.client;

import dev.fovea.v1.Classification;
import dev.fovea.v1.Frame;
import dev.fovea.v1.FrameError;
import dev.fovea.v1.FrameSkipped;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.ListModelsResponse;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.Result;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.TensorSpec;
import dev.fovea.v1.UnloadModelRequest;
import dev.fovea.v1.Timings;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.LongFunction;

/**
 * A fake InferenceService that records what it receives. Models: "shapes" answers every image with the label
 * {@link #label} (score 0.9) then "square"; "hang" never answers a Predict (until the call is cancelled); "missing"
 * and every other name are NOT_FOUND. Streams echo each frame's id; a frame without an image gets a FrameError; in
 * latest-only mode even frame ids are reported skipped; each result names the model version {@link #modelVersion}
 * gives for its frame id (none by default), so a test can update the model mid-stream. With
 * {@link #readStreamsAutomatically} false, a stream reads its next message only when the test calls
 * {@link FakeStream#request}.
 */
public final class FakeInferenceService extends InferenceServiceGrpc.InferenceServiceImplBase {

    public final BlockingQueue<PredictRequest> predictRequests = new LinkedBlockingQueue<>();
    public final BlockingQueue<LoadModelRequest> loadRequests = new LinkedBlockingQueue<>();
    /** Counted down when a "hang" call is cancelled by its client. */
    public final CountDownLatch hangCancelled = new CountDownLatch(1);
    public final BlockingQueue<FakeStream> streams = new LinkedBlockingQueue<>();
    public volatile String label = "circle";
    public volatile boolean readStreamsAutomatically = true;
    /** The model version that answers each frame id in streams; "" names none. */
    public volatile LongFunction<String> modelVersion = frameId -> "";

    public static final List<ModelInfo> MODELS = List.of(
            ModelInfo.newBuilder().setName("broken").setStatus(ModelStatus.MODEL_STATUS_FAILED)
                    .setStatusMessage("model.pt is missing").build(),
            ModelInfo.newBuilder().setName("shapes").setStatus(ModelStatus.MODEL_STATUS_READY).setDevice("cpu")
                    .addAllLabels(List.of("circle", "square", "triangle", "cross"))
                    .setInput(TensorSpec.newBuilder().setName("input").setDtype("float32")
                            .addAllShape(List.of(-1L, 3L, 64L, 64L))).build());

    @Override
    public void predict(PredictRequest request, StreamObserver<PredictResponse> responses) {
        predictRequests.add(request);
        switch (request.getModel()) {
            case "shapes" -> {
                PredictResponse.Builder response = PredictResponse.newBuilder().setModel("shapes");
                for (int i = 0; i < request.getImagesCount(); i++) {
                    response.addResults(result(request.getImagesCount()));
                }
                responses.onNext(response.build());
                responses.onCompleted();
            }
            case "hang" -> ((ServerCallStreamObserver<PredictResponse>) responses)
                    .setOnCancelHandler(hangCancelled::countDown);
            default -> responses.onError(notFound(request.getModel()));
        }
    }

    private Result result(int batchSize) {
        return Result.newBuilder()
                .addClasses(Classification.newBuilder().setIndex(0).setLabel(label).setScore(0.9f))
                .addClasses(Classification.newBuilder().setIndex(1).setLabel("square").setScore(0.05f))
                .setTimings(Timings.newBuilder().setQueueUs(10).setPreprocessUs(200).setInferenceUs(3_000)
                        .setPostprocessUs(5).setBatchSize(batchSize))
                .build();
    }

    private static RuntimeException notFound(String model) {
        return Status.NOT_FOUND.withDescription("no model named \"" + model + "\"").asRuntimeException();
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> responses) {
        responses.onNext(ListModelsResponse.newBuilder().addAllModels(MODELS).build());
        responses.onCompleted();
    }

    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> responses) {
        for (ModelInfo model : MODELS) {
            if (model.getName().equals(request.getName())) {
                responses.onNext(model);
                responses.onCompleted();
                return;
            }
        }
        responses.onError(notFound(request.getName()));
    }

    /** Loads "shapes" as version 2, recording the config it was sent; any other name is NOT_FOUND. */
    @Override
    public void loadModel(LoadModelRequest request, StreamObserver<ModelInfo> responses) {
        loadRequests.add(request);
        if (!request.getName().equals("shapes")) {
            responses.onError(notFound(request.getName()));
            return;
        }
        responses.onNext(MODELS.get(1).toBuilder().setVersion("2").addVersions("2").build());
        responses.onCompleted();
    }

    @Override
    public void unloadModel(UnloadModelRequest request, StreamObserver<ModelInfo> responses) {
        responses.onNext(ModelInfo.newBuilder().setName(request.getName())
                .setStatus(ModelStatus.MODEL_STATUS_UNAVAILABLE).setStatusMessage("unloaded").build());
        responses.onCompleted();
    }

    @Override
    public StreamObserver<StreamPredictRequest> streamPredict(StreamObserver<StreamPredictResponse> responses) {
        FakeStream stream = new FakeStream((ServerCallStreamObserver<StreamPredictResponse>) responses);
        streams.add(stream);
        return stream;
    }

    /** One StreamPredict call as the server sees it. */
    public final class FakeStream implements StreamObserver<StreamPredictRequest> {

        private final ServerCallStreamObserver<StreamPredictResponse> responses;
        private final boolean autoRead = readStreamsAutomatically;
        public final List<StreamPredictRequest> received = new CopyOnWriteArrayList<>();
        public final CountDownLatch cancelled = new CountDownLatch(1);
        public final CountDownLatch halfClosed = new CountDownLatch(1);
        private StreamOptions options;

        FakeStream(ServerCallStreamObserver<StreamPredictResponse> responses) {
            this.responses = responses;
            responses.disableAutoRequest();
            responses.setOnCancelHandler(cancelled::countDown);
            responses.request(1);
        }

        /** Lets the client send {@code messages} more messages. */
        public void request(int messages) {
            responses.request(messages);
        }

        @Override
        public synchronized void onNext(StreamPredictRequest message) {
            received.add(message);
            if (options == null) {
                options = message.getOptions();
                if (!options.getModel().equals("shapes")) {
                    responses.onError(notFound(options.getModel()));
                    return;
                }
            } else {
                responses.onNext(answer(message.getFrame()));
            }
            if (autoRead) {
                responses.request(1);
            }
        }

        private StreamPredictResponse answer(Frame frame) {
            StreamPredictResponse.Builder response = StreamPredictResponse.newBuilder()
                    .setFrameId(frame.getFrameId()).setCaptureTime(frame.getCaptureTime());
            if (frame.getImage().getDataCase() == Image.DataCase.DATA_NOT_SET) {
                return response.setError(FrameError.newBuilder().setCode(Status.Code.INVALID_ARGUMENT.value())
                        .setMessage("frame.image is not set")).build();
            }
            if (options.getMode() == StreamMode.STREAM_MODE_LATEST_ONLY && frame.getFrameId() % 2 == 0) {
                return response.setSkipped(FrameSkipped.newBuilder().setSupersededBy(frame.getFrameId() + 1)).build();
            }
            return response.setResult(result(1)).setModelVersion(modelVersion.apply(frame.getFrameId())).build();
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public synchronized void onCompleted() {
            halfClosed.countDown();
            responses.onCompleted();
        }
    }
}
