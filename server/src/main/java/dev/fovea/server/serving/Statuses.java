package dev.fovea.server.serving;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.fovea.server.inference.InferenceException;
import dev.fovea.server.limits.ThrottledLog;
import dev.fovea.server.repository.ModelControlException;
import dev.fovea.server.sharedmemory.SharedMemoryException;
import dev.fovea.torch.NativeException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/** The one place where failures become gRPC statuses. */
public final class Statuses {

    /** Full texts of multi-line model errors, which clients can cause as often as they like. */
    private static final ThrottledLog tracebacks =
            new ThrottledLog(Logger.getLogger(Statuses.class.getName()), Duration.ofMinutes(1));

    /** The most characters of a parser's reason that an unparseable-request status carries. */
    private static final int MAX_PARSE_REASON_CHARS = 160;

    private Statuses() {}

    public static Status of(Throwable failure) {
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
            return status.withDescription(forClient(e)).withCause(e);
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
        if (cause instanceof ModelControlException e) {
            Status status = switch (e.reason()) {
                case NOT_ALLOWED -> Status.UNAVAILABLE;
                case INVALID -> Status.INVALID_ARGUMENT;
                case NOT_FOUND -> Status.NOT_FOUND;
                case LOAD_FAILED -> Status.FAILED_PRECONDITION;
            };
            return status.withDescription(e.getMessage()).withCause(e);
        }
        return Status.INTERNAL.withDescription("unexpected server error: " + cause).withCause(cause);
    }

    /**
     * The message of {@code e} as the client reads it. libtorch's text for a failure inside TorchScript is a
     * traceback (code lines, file paths from the model author's machine) ending with the error itself, e.g.
     * {@code RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x768 and 3072x4)}: the client gets that last
     * line after the server's own words ("model cnn failed: "), and the server log the whole text, at most once per
     * interval since clients can cause it at will.
     */
    public static String forClient(InferenceException e) {
        String message = String.valueOf(e.getMessage());
        String detail = e.getCause() instanceof NativeException n && n.getMessage() != null
                && message.endsWith(n.getMessage()) ? n.getMessage() : message;
        String lastLine = lastLine(detail);
        if (lastLine.equals(detail)) {
            return message;
        }
        tracebacks.log(Level.WARNING, () -> "a request failed with a multi-line error; its client was sent the "
                + "last line only:\n" + message, true);
        return message.substring(0, message.length() - detail.length()) + lastLine;
    }

    /** The last non-blank line of {@code text}, or {@code text} itself if it has one line. */
    private static String lastLine(String text) {
        String trimmed = text.strip();
        int end = Math.max(trimmed.lastIndexOf('\n'), trimmed.lastIndexOf('\r'));
        return end < 0 ? text : trimmed.substring(end + 1).strip();
    }

    /** How calls and streams end once the server has begun to stop. */
    public static Status shuttingDown() {
        return Status.UNAVAILABLE.withDescription("server shutting down");
    }

    /**
     * A request the transport could not turn into a {@code messageType}: INVALID_ARGUMENT naming the type and the
     * parser's reason (its first sentence: protobuf's messages are fixed texts, never the client's bytes); INTERNAL if
     * the failure was not the message's fault.
     */
    public static Status unparseable(String messageType, Throwable failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof InvalidProtocolBufferException e) {
                return Status.INVALID_ARGUMENT.withDescription("the request is not a valid " + messageType + ": "
                        + firstSentence(e.getMessage())).withCause(e);
            }
        }
        return Status.INTERNAL.withDescription("could not read a " + messageType + " request: "
                + firstSentence(String.valueOf(failure))).withCause(failure);
    }

    private static String firstSentence(String text) {
        String line = text == null ? "no reason given" : text.replace('\n', ' ').replace('\r', ' ');
        int end = line.indexOf(".  ");
        String sentence = end < 0 ? line : line.substring(0, end + 1);
        return sentence.length() <= MAX_PARSE_REASON_CHARS ? sentence
                : sentence.substring(0, MAX_PARSE_REASON_CHARS) + "…";
    }

    public static InferenceException invalid(String message) {
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
