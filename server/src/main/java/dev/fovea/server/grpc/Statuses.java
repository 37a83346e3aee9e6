package dev.fovea.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.fovea.server.inference.InferenceException;
import dev.fovea.server.sharedmemory.SharedMemoryException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** The one place where failures become gRPC statuses. */
final class Statuses {

    /** The most characters of a parser's reason that an unparseable-request status carries. */
    private static final int MAX_PARSE_REASON_CHARS = 160;

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
                case DISABLED -> Status.FAILED_PRECONDITION;
                case INVALID -> Status.INVALID_ARGUMENT;
                case NOT_FOUND -> Status.NOT_FOUND;
                case ALREADY_EXISTS -> Status.ALREADY_EXISTS;
            };
            return status.withDescription(e.getMessage()).withCause(e);
        }
        return Status.INTERNAL.withDescription("unexpected server error: " + cause).withCause(cause);
    }

    /**
     * A request the transport could not turn into a {@code messageType}: INVALID_ARGUMENT naming the type and the
     * parser's reason (its first sentence: protobuf's messages are fixed texts, never the client's bytes); INTERNAL if
     * the failure was not the message's fault.
     */
    static Status unparseable(String messageType, Throwable failure) {
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
