package dev.fovea.server.grpc;

import dev.fovea.server.inference.InferenceException;
import dev.fovea.server.sharedmemory.SharedMemoryException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** The one place where failures become gRPC statuses. */
final class Statuses {

    private Statuses() {}

    static Status of(Throwable failure) {
        Throwable cause = unwrap(failure);
        if (cause instanceof StatusRuntimeException e) {
            return e.getStatus();
        }
        if (cause instanceof StatusException e) {
            return e.getStatus();
        }
        if (cause instanceof InferenceException e) {
            Status status = switch (e.reason()) {
                case QUEUE_FULL, OUT_OF_MEMORY -> Status.RESOURCE_EXHAUSTED;
                case UNAVAILABLE -> Status.UNAVAILABLE;
                case DEADLINE_EXCEEDED -> Status.DEADLINE_EXCEEDED;
                case CANCELLED -> Status.CANCELLED;
                case INVALID_INPUT -> Status.INVALID_ARGUMENT;
                case MODEL_ERROR -> Status.INTERNAL;
            };
            return status.withDescription(e.getMessage()).withCause(e);
        }
        if (cause instanceof SharedMemoryException e) {
            Status status = switch (e.reason()) {
                // TRUNCATED: the reference was valid against the region as registered; the file's current state
                // fails it, and the same request succeeds once the client restores the file (gRPC's rule for
                // FAILED_PRECONDITION, where INVALID_ARGUMENT means wrong whatever the server's state).
                case DISABLED, TRUNCATED -> Status.FAILED_PRECONDITION;
                case INVALID -> Status.INVALID_ARGUMENT;
                case NOT_FOUND -> Status.NOT_FOUND;
                case ALREADY_EXISTS -> Status.ALREADY_EXISTS;
                case PERMISSION_DENIED -> Status.PERMISSION_DENIED;
            };
            return status.withDescription(e.getMessage()).withCause(e);
        }
        return Status.INTERNAL.withDescription("unexpected server error: " + cause).withCause(cause);
    }

    static InferenceException invalid(String message) {
        return new InferenceException(InferenceException.Reason.INVALID_INPUT, message);
    }

    private static Throwable unwrap(Throwable failure) {
        Throwable cause = failure;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }
}
