package dev.fovea.torch;

/**
 * A failure reported by libtorch or by Fovea's C API: the message is libtorch's own text (for a TorchScript
 * {@code raise}, the model's message). The object it happened on stays usable: a failed forward leaves its module
 * ready for the next call.
 */
public final class NativeException extends RuntimeException {

    /** What kind of failure it was, so callers (the server's status mapping) need not parse messages. */
    public enum Kind {
        /** An argument the C API rejected. */
        INVALID_ARGUMENT,
        /** libtorch refused: a model that failed to load or raised, shapes or dtypes that did not fit, ... */
        TORCH,
        /** Host or device memory ran out. */
        OUT_OF_MEMORY,
        /** The model returned something other than tensors or tuples/lists of tensors. */
        UNSUPPORTED_OUTPUT,
        /** An unexpected C++ exception. */
        INTERNAL
    }

    private final Kind kind;

    NativeException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
