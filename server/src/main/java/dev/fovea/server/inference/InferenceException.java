package dev.fovea.server.inference;

import dev.fovea.torch.NativeException;
import java.util.List;

/**
 * Why a request did not produce predictions. The gRPC layer maps each reason to a status code; nothing here knows
 * about gRPC.
 */
public final class InferenceException extends RuntimeException {

    /** The failure, in the terms a caller can act on. */
    public enum Reason {
        /** The model's queue is full: try again later. */
        QUEUE_FULL,
        /** The model is not serving (loading, failed or shutting down). */
        UNAVAILABLE,
        /** The request's deadline passed before its model ran; it was not run. */
        DEADLINE_EXCEEDED,
        /** The caller went away before its model ran; it was not run. */
        CANCELLED,
        /** The input is wrong for this model: the message names what. */
        INVALID_INPUT,
        /** Memory ran out on the host or the device. */
        OUT_OF_MEMORY,
        /** The model failed on valid input, or returned something unusable. */
        MODEL_ERROR
    }

    private final Reason reason;

    public InferenceException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public InferenceException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    /**
     * A native failure of a batch of {@code batch}'s requests as a reason: out of memory names the model and the
     * batch's size, which tells the operator what to lower (max_batch_size, preferred sizes; the model keeps serving,
     * and the one-by-one rerun may fit); a rejected input is the caller's mistake when it is the caller's own tensor
     * ({@code callersInput}), the model's otherwise.
     */
    static InferenceException fromNative(NativeException e, boolean callersInput, String modelName, List<Job> batch) {
        if (e.kind() == NativeException.Kind.OUT_OF_MEMORY) {
            int images = batch.stream().mapToInt(Job::images).sum();
            return new InferenceException(Reason.OUT_OF_MEMORY, "model " + modelName + " ran out of memory on a batch of "
                    + images + (images == 1 ? " image" : " images") + " (" + batch.size()
                    + (batch.size() == 1 ? " request" : " requests") + "): " + e.getMessage(), e);
        }
        if (callersInput && (e.kind() == NativeException.Kind.INVALID_ARGUMENT
                || e.kind() == NativeException.Kind.TORCH)) {
            return new InferenceException(Reason.INVALID_INPUT, e.getMessage(), e);
        }
        return new InferenceException(Reason.MODEL_ERROR, "model " + modelName + " failed: " + e.getMessage(), e);
    }
}
