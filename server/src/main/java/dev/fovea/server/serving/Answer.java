package dev.fovea.server.serving;

import dev.fovea.server.inference.Predictions;
import dev.fovea.server.tracing.RequestTrace;
import io.grpc.Status;

/**
 * A protocol's response to a finished request, whose raw output bytes view {@code predictions}' native memory, and
 * the request's trace, whose send has started. Ownership: whoever receives it sends (or copies) the response, then
 * closes {@code predictions}, exactly once, and ends the trace; the gRPC services hand the response and predictions
 * to their marshaller, which frees the memory once the transport has written the bytes. {@link #close} does both for
 * a receiver that has copied the response.
 */
public record Answer<T>(T response, Predictions predictions, RequestTrace trace) implements AutoCloseable {

    /** The response has been written: frees the predictions and ends the trace as sent. */
    @Override
    public void close() {
        predictions.close();
        trace.end(Status.OK);
    }
}
