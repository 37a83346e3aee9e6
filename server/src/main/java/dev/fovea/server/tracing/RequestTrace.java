package dev.fovea.server.tracing;

import dev.fovea.server.inference.Predictions;
import io.grpc.Status;

/**
 * The trace of one request (a unary call, or one request of a stream), started by {@link Tracing#start} when the
 * request arrives. A protocol adapter calls {@link #sending} when the model's answer is there and it starts building
 * and sending the response, and {@link #end} once the call is over, on whatever thread. A request that is not traced
 * gets {@link #NONE}, which does nothing and costs nothing; a traced one builds its spans in {@link #end}, from the
 * timings the model recorded anyway, so the request path never holds a span.
 */
public interface RequestTrace {

    /** The trace of a request that is not traced. */
    RequestTrace NONE = new RequestTrace() {
        @Override
        public void sending(Predictions predictions) {}

        @Override
        public void end(Status status) {}
    };

    /**
     * The model has answered with {@code predictions} (whose timings are read here, so they may be closed after this)
     * and the response's sending starts.
     */
    void sending(Predictions predictions);

    /** The call is over with {@code status}; the trace's spans are built and handed to the exporter. Once only. */
    void end(Status status);
}
