package dev.fovea.server.inference;

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
}
