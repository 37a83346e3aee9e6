package dev.fovea.server.grpc;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.serving.Answer;
import dev.fovea.server.serving.Dispatcher;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.sharedmemory.Caller;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.tracing.RequestTrace;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One Open Inference Protocol ModelInfer, whichever way it came (gRPC unary, a ModelStreamInfer message, the HTTP
 * binding): the model it names, its inputs checked against the model and read into native memory, the outputs it
 * asks for, then the {@link Dispatcher}'s queue, and the response built from the predictions.
 */
final class OipInference {

    private final Dispatcher dispatcher;
    private final SharedMemoryRegistry sharedMemory;
    private final ImageLimits imageLimits;

    OipInference(Dispatcher dispatcher, SharedMemoryRegistry sharedMemory, ImageLimits imageLimits) {
        this.dispatcher = dispatcher;
        this.sharedMemory = sharedMemory;
        this.imageLimits = imageLimits;
    }

    /**
     * Validates and queues {@code request}, whose bytes live in {@code memory} (owned by this call from here on).
     * Completes with the answer on the thread that ran the request, or with a {@link StatusRuntimeException}: at once
     * for a request refused before queueing. Counted once, from {@code startNanos}; traced as {@code spanName}.
     */
    CompletableFuture<Answer<ModelInferResponse>> infer(ModelInferRequest request, RequestImages.Memory memory,
            long startNanos, String spanName) {
        RequestTrace trace = dispatcher.tracing().start(spanName, request.getModelName(), request.getModelVersion(),
                startNanos);
        ServedModel model = null;
        List<InferOutputs.Wanted> outputs;
        InferenceRequest inference;
        try {
            model = dispatcher.acquire(request.getModelName(), request.getModelVersion());
            outputs = InferOutputs.wanted(request, model);
            List<InputImage> images = InferInputs.toInputs(request, model, memory, new PixelBudget(imageLimits));
            inference = Dispatcher.request(images, 0, true, memory.arena());
        } catch (RuntimeException e) {
            if (model != null) {
                model.release();
            }
            memory.arena().close();
            Status status = Statuses.of(e);
            dispatcher.finished(request.getModelName(), status, startNanos);
            trace.end(status);
            return CompletableFuture.failedFuture(status.asRuntimeException());
        }
        Caller caller = memory.caller();
        ServedModel chosen = model;
        return dispatcher.submit(model, inference, startNanos, trace, predictions -> new Answer<>(
                InferOutputs.toResponse(request, chosen, outputs, predictions, sharedMemory, caller), predictions,
                trace));
    }
}
