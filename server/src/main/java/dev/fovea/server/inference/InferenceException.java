package dev.fovea.server.inference;

import dev.fovea.torch.NativeException;

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
     * A native failure of model {@code modelName}, in these terms: out of memory is OUT_OF_MEMORY; an input the
     * native side rejects is INVALID_INPUT when it is the caller's ({@code callersInput}: a raw tensor, a picture to
     * decode) and MODEL_ERROR when the server made it (a preprocessed picture); anything else is MODEL_ERROR.
     */
    static InferenceException fromNative(NativeException e, boolean callersInput, String modelName) {
        if (e.kind() == NativeException.Kind.OUT_OF_MEMORY) {
            return new InferenceException(Reason.OUT_OF_MEMORY, e.getMessage(), e);
        }
        if (callersInput && (e.kind() == NativeException.Kind.INVALID_ARGUMENT
                || e.kind() == NativeException.Kind.TORCH)) {
            return new InferenceException(Reason.INVALID_INPUT, e.getMessage(), e);
        }
        return new InferenceException(Reason.MODEL_ERROR, "model " + modelName + " failed: " + e.getMessage(), e);
    }
}
