package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_ERROR_INVALID_ARGUMENT;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_ERROR_OUT_OF_MEMORY;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_ERROR_TORCH;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_ERROR_UNSUPPORTED_OUTPUT;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_OK;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_error_free;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_error_message;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Turns a C API status plus its {@code fovea_error*} into a {@link NativeException}, freeing the error. */
final class NativeErrors {

    private NativeErrors() {}

    /** A {@code fovea_error*} slot for one call's out-param, in that call's arena. */
    static MemorySegment errorSlot(Arena call) {
        return call.allocate(C_POINTER); // fovea_error *
    }

    /**
     * Returns normally for {@code FOVEA_OK}; otherwise reads and frees the error in {@code errorSlot} and throws.
     * The error object is owned by us from the moment the call returns, so it is freed here even if reading fails.
     */
    static void check(int status, MemorySegment errorSlot) {
        if (status == FOVEA_OK()) {
            return;
        }
        MemorySegment error = errorSlot.get(C_POINTER, 0);
        try {
            String message = error.equals(MemorySegment.NULL)
                    ? "(no message: the error object could not be allocated)"
                    : fovea_error_message(error).reinterpret(Long.MAX_VALUE).getString(0);
            throw new NativeException(kind(status), message);
        } finally {
            fovea_error_free(error);
        }
    }

    private static NativeException.Kind kind(int status) {
        if (status == FOVEA_ERROR_INVALID_ARGUMENT()) {
            return NativeException.Kind.INVALID_ARGUMENT;
        } else if (status == FOVEA_ERROR_TORCH()) {
            return NativeException.Kind.TORCH;
        } else if (status == FOVEA_ERROR_OUT_OF_MEMORY()) {
            return NativeException.Kind.OUT_OF_MEMORY;
        } else if (status == FOVEA_ERROR_UNSUPPORTED_OUTPUT()) {
            return NativeException.Kind.UNSUPPORTED_OUTPUT;
        }
        return NativeException.Kind.INTERNAL;
    }
}
