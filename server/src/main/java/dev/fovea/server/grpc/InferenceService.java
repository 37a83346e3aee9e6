package dev.fovea.server.grpc;

import com.google.protobuf.Message;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.Prediction;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.ListModelsResponse;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.UnloadModelRequest;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * fovea.v1.InferenceService: validates on the gRPC thread, queues on the model's runner, and answers from
 * {@code responseExecutor} (never from a model's worker, which goes straight back to computing).
 */
public final class InferenceService extends InferenceServiceGrpc.InferenceServiceImplBase {

    static final int DEFAULT_TOP_K = 5;
    /** A NOT_FOUND message lists this many models at most; ListModels has them all. */
    private static final int MODELS_NAMED_IN_NOT_FOUND = 16;

    private final ModelRepository repository;
    private final Executor responseExecutor;
    private final ServerMetrics metrics;
    private final SharedMemoryRegistry sharedMemory;
    private final Outcomes outcomes;
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

    public InferenceService(ModelRepository repository, Executor responseExecutor, ServerMetrics metrics,
            SharedMemoryRegistry sharedMemory, ImageLimits imageLimits, ShutdownDrain shutdownDrain) {
        this.repository = Objects.requireNonNull(repository, "repository");
        this.responseExecutor = Objects.requireNonNull(responseExecutor, "responseExecutor");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.sharedMemory = Objects.requireNonNull(sharedMemory, "sharedMemory");
        this.outcomes = new Outcomes(repository, metrics);
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
        ServedModel model = null;
        InferenceRequest inference;
        RequestImages.Memory memory = RequestImages.Memory.of(predictRequests.takeMemory(request), sharedMemory);
        try {
            model = acquire(repository, request.getModel(), request.getModelVersion());
            if (request.getImagesCount() == 0) {
                throw Statuses.invalid("images is empty: send at least one image");
            }
            List<InputImage> images = DeclaredInputs.rows(model,
                    RequestImages.toInputs(request.getImagesList(), "images", memory, pixelBudget()));
            inference = newRequest(images, request.getTopK(), request.getIncludeOutputTensors(), memory.arena());
        } catch (RuntimeException e) {
            if (model != null) {
                model.release();
            }
            memory.arena().close();
            Status status = Statuses.of(e);
            outcomes.finished(request.getModel(), status, start);
            responses.onError(status.asRuntimeException());
            return;
        }
        ServedModel chosen = model;
        submit(model, inference).whenCompleteAsync((predictions, failure) -> {
            Status status = failure == null ? Status.OK : Statuses.of(failure);
            outcomes.finished(chosen.name(), status, start);
            if (failure != null) {
                responses.onError(status.asRuntimeException());
                return;
            }
            PredictResponse.Builder response = PredictResponse.newBuilder().setModel(chosen.name())
                    .setModelVersion(chosen.version());
            for (Prediction prediction : predictions.list()) {
                response.addResults(Results.toWire(prediction));
            }
            send(responses, response.build(), predictions, predictResponses);
            responses.onCompleted();
        }, responseExecutor);
    }

    @Override
    public StreamObserver<StreamPredictRequest> streamPredict(StreamObserver<StreamPredictResponse> responses) {
        StreamSession session = new StreamSession(this, (ServerCallStreamObserver<StreamPredictResponse>) responses);
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
        repository.describe(request.getName()).ifPresentOrElse(info -> {
            responses.onNext(info);
            responses.onCompleted();
        }, () -> responses.onError(notFound(repository, request.getName()).asRuntimeException()));
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
     * Sends {@code message}, whose raw output bytes view {@code predictions}' memory; the transport frees that memory
     * once it has written the message (or at once if the call has ended).
     */
    static <T extends Message> void send(StreamObserver<T> responses, T message,
            Predictions predictions, NativeResponseMarshaller<T> marshaller) {
        marshaller.attach(message, predictions);
        try {
            responses.onNext(message);
        } finally {
            // gRPC streams the message inside onNext; if it did not (the call had ended), this frees the memory.
            marshaller.discard(message);
        }
    }

    /** Sends a stream response, freeing {@code predictions} (null for error and skip responses) once written. */
    void sendFrame(StreamObserver<StreamPredictResponse> responses, StreamPredictResponse message,
            Predictions predictions) {
        if (predictions == null) {
            responses.onNext(message);
        } else {
            send(responses, message, predictions, streamResponses);
        }
    }

    /**
     * The version of {@code name} to run a request on ({@code version}, or the newest that serves when empty), with a
     * use taken on it ({@link ServedModel#release()} once the request is submitted or refused), or a NOT_FOUND /
     * UNAVAILABLE status exception; both APIs look models up for inference here.
     */
    static ServedModel acquire(ModelRepository repository, String name, String version) {
        return repository.acquire(name, version).orElseThrow(() -> notServing(repository, name, version));
    }

    /** The version of {@code name} to describe ({@code ""}: the newest that serves), or a status exception. */
    static ServedModel servedModel(ModelRepository repository, String name, String version) {
        return repository.find(name, version).orElseThrow(() -> notServing(repository, name, version));
    }

    private static RuntimeException notServing(ModelRepository repository, String name, String version) {
        return repository.describe(name)
                .map(info -> info.getStatus() == ModelStatus.MODEL_STATUS_READY
                        ? Status.NOT_FOUND.withDescription("model " + ClientText.quote(name) + " has no version "
                                + ClientText.quote(version) + " (versions: " + String.join(", ", info.getVersionsList())
                                + ")")
                        : Status.UNAVAILABLE.withDescription("model " + ClientText.quote(name) + " is not serving: "
                                + info.getStatusMessage()))
                .orElseGet(() -> notFound(repository, name))
                .asRuntimeException();
    }

    /** A request bound to the current call's deadline and cancellation. */
    static InferenceRequest newRequest(List<InputImage> images, int topK, boolean includeOutputs, Arena memory) {
        Context context = Context.current();
        Deadline deadline = context.getDeadline();
        long now = System.nanoTime();
        long deadlineNanos = deadline == null ? InferenceRequest.NO_DEADLINE
                : now + deadline.timeRemaining(TimeUnit.NANOSECONDS);
        return new InferenceRequest(images, topK(topK), includeOutputs, deadlineNanos, context::isCancelled, now,
                memory);
    }

    /**
     * The classes to return for a {@code top_k} as it came: a uint32, which Java reads as negative from 2^31 on; 0
     * means {@link #DEFAULT_TOP_K}. Any other value is a cap, never a size: the postprocessor returns at most the
     * model's class count.
     */
    static int topK(int wire) {
        return wire == 0 ? DEFAULT_TOP_K : (int) Math.min(Integer.toUnsignedLong(wire), Integer.MAX_VALUE);
    }

    ShutdownDrain shutdownDrain() {
        return shutdownDrain;
    }

    Outcomes outcomes() {
        return outcomes;
    }

    /** Queues {@code request} on {@code model} and releases the use taken by {@link #acquire}. */
    static CompletableFuture<Predictions> submit(ServedModel model, InferenceRequest request) {
        try {
            return model.runner().submit(request);
        } finally {
            model.release();
        }
    }

    ModelRepository repository() {
        return repository;
    }

    Executor responseExecutor() {
        return responseExecutor;
    }

    static Status notFound(ModelRepository repository, String name) {
        List<String> known = repository.describeAll().stream().map(ModelInfo::getName).toList();
        String listed = known.isEmpty() ? "none"
                : String.join(", ", known.subList(0, Math.min(known.size(), MODELS_NAMED_IN_NOT_FOUND)))
                        + (known.size() > MODELS_NAMED_IN_NOT_FOUND
                                ? " and " + (known.size() - MODELS_NAMED_IN_NOT_FOUND) + " more" : "");
        return Status.NOT_FOUND.withDescription("model " + ClientText.quote(name) + " is not in the repository "
                + "(models: " + listed + ")");
    }
}
