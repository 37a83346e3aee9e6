package dev.fovea.server.grpc;

import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.Prediction;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.serving.Answer;
import dev.fovea.server.serving.Dispatcher;
import dev.fovea.server.serving.InputCheck;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.tracing.RequestTrace;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.ListModelsResponse;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.UnloadModelRequest;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Objects;

/**
 * fovea.v1.InferenceService: reads a request's images into native memory, checks them against the model and queues
 * them through the {@link Dispatcher}; the response is sent from the thread that finished the request.
 */
public final class InferenceService extends InferenceServiceGrpc.InferenceServiceImplBase {

    static final int DEFAULT_TOP_K = 5;

    private final Dispatcher dispatcher;
    private final ModelRepository repository;
    private final SharedMemoryRegistry sharedMemory;
    private final ImageLimits imageLimits;
    private final ShutdownDrain shutdownDrain;
    private final NativeMessageMarshaller<PredictRequest> predictRequests =
            new NativeMessageMarshaller<>(PredictRequest.getDefaultInstance());
    private final NativeMessageMarshaller<StreamPredictRequest> streamRequests =
            new NativeMessageMarshaller<>(StreamPredictRequest.getDefaultInstance());
    private final NativeResponseMarshaller<PredictResponse> predictResponses =
            new NativeResponseMarshaller<>(PredictResponse.getDefaultInstance());
    private final NativeResponseMarshaller<StreamPredictResponse> streamResponses =
            new NativeResponseMarshaller<>(StreamPredictResponse.getDefaultInstance());

    public InferenceService(Dispatcher dispatcher, ModelRepository repository, SharedMemoryRegistry sharedMemory,
            ImageLimits imageLimits, ShutdownDrain shutdownDrain) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.repository = Objects.requireNonNull(repository, "repository");
        this.sharedMemory = Objects.requireNonNull(sharedMemory, "sharedMemory");
        this.imageLimits = Objects.requireNonNull(imageLimits, "imageLimits");
        this.shutdownDrain = Objects.requireNonNull(shutdownDrain, "shutdownDrain");
    }

    /**
     * The service with Predict and StreamPredict requests parsed by {@link NativeMessageMarshaller}, so image bytes
     * reach native memory straight from the transport's buffers and are never copied on the heap, and their responses
     * written by {@link NativeResponseMarshaller}, so raw outputs go from tensor memory to the transport. Register
     * this, not {@link #bindService()}. Calls that start once the server is stopping get UNAVAILABLE.
     */
    public ServerServiceDefinition definition() {
        return shutdownDrain.refuseWhenDraining(new NativeMethods(bindService())
                .rebind(InferenceServiceGrpc.getPredictMethod(), predictRequests, predictResponses)
                .rebind(InferenceServiceGrpc.getStreamPredictMethod(), streamRequests, streamResponses)
                .build());
    }

    /** A new request's (or stream frame's) share of the image limits. */
    PixelBudget pixelBudget() {
        return new PixelBudget(imageLimits);
    }

    /** The native memory a stream message was parsed into; the caller owns and closes its arena. */
    RequestImages.Memory memoryOf(StreamPredictRequest message) {
        return RequestImages.Memory.of(streamRequests.takeMemory(message), sharedMemory);
    }

    @Override
    public void predict(PredictRequest request, StreamObserver<PredictResponse> responses) {
        long start = System.nanoTime();
        RequestTrace trace = dispatcher.tracing().start("Predict", request.getModel(), request.getModelVersion(),
                start);
        ServedModel model = null;
        InferenceRequest inference;
        RequestImages.Memory memory = RequestImages.Memory.of(predictRequests.takeMemory(request), sharedMemory);
        try {
            model = dispatcher.acquire(request.getModel(), request.getModelVersion());
            if (request.getImagesCount() == 0) {
                throw Statuses.invalid("images is empty: send at least one image");
            }
            List<InputImage> images = InputCheck.rows(model.spec(),
                    RequestImages.toInputs(request.getImagesList(), "images", memory, pixelBudget()));
            inference = Dispatcher.request(images, topK(request.getTopK()), request.getIncludeOutputTensors(),
                    memory.arena());
        } catch (RuntimeException e) {
            if (model != null) {
                model.release();
            }
            memory.arena().close();
            Status status = Statuses.of(e);
            dispatcher.finished(request.getModel(), status, start);
            responses.onError(status.asRuntimeException());
            trace.end(status);
            return;
        }
        ServedModel chosen = model;
        dispatcher.submit(model, inference, start, trace, predictions -> {
            PredictResponse.Builder response = PredictResponse.newBuilder().setModel(chosen.name())
                    .setModelVersion(chosen.version());
            for (Prediction prediction : predictions.list()) {
                response.addResults(Results.toWire(prediction));
            }
            return new Answer<>(response.build(), predictions, trace);
        }).whenComplete((answer, failure) -> {
            if (failure != null) {
                responses.onError(Statuses.of(failure).asRuntimeException());
                return;
            }
            predictResponses.send(responses, answer.response(), answer.predictions());
            responses.onCompleted();
            trace.end(Status.OK);
        });
    }

    @Override
    public StreamObserver<StreamPredictRequest> streamPredict(StreamObserver<StreamPredictResponse> responses) {
        StreamSession session = new StreamSession(dispatcher, this::memoryOf, this::pixelBudget,
                (ServerCallStreamObserver<StreamPredictResponse>) responses, streamResponses, shutdownDrain);
        session.start();
        return session;
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> responses) {
        responses.onNext(ListModelsResponse.newBuilder().addAllModels(repository.describeAll()).build());
        responses.onCompleted();
    }

    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> responses) {
        try {
            responses.onNext(dispatcher.describe(request.getName()));
            responses.onCompleted();
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    /** Loads or reloads a model (--model-control-mode explicit); answers with its description once it serves. */
    @Override
    public void loadModel(LoadModelRequest request, StreamObserver<ModelInfo> responses) {
        ModelControl.reply(repository.load(request.getName(), request.getConfig()), responses, info -> info);
    }

    /** Unloads a model (--model-control-mode explicit); answers once its requests ran and its memory is freed. */
    @Override
    public void unloadModel(UnloadModelRequest request, StreamObserver<ModelInfo> responses) {
        ModelControl.reply(repository.unload(request.getName()), responses, info -> info);
    }

    /**
     * The classes to return for a {@code top_k} as it came: a uint32, which Java reads as negative from 2^31 on; 0
     * means {@link #DEFAULT_TOP_K}. Any other value is a cap, never a size: the postprocessor returns at most the
     * model's class count.
     */
    static int topK(int wire) {
        return wire == 0 ? DEFAULT_TOP_K : (int) Math.min(Integer.toUnsignedLong(wire), Integer.MAX_VALUE);
    }
}
