package dev.fovea.server.tracing;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The caller's span, from the W3C {@code traceparent} and {@code tracestate} of a gRPC call's metadata or an HTTP
 * request's headers, carried in the call's gRPC {@link Context} to {@link Tracing#start}. A missing or malformed
 * {@code traceparent} is no parent (the OpenTelemetry propagator checks the format and bounds {@code tracestate}); it
 * never fails the call. While tracing is off nothing is read.
 */
final class TraceParents implements ServerInterceptor {

    /** The caller's span for the current call; absent when it sent none (or tracing was off when the call came). */
    static final Context.Key<SpanContext> PARENT = Context.key("fovea-trace-parent");

    private static final Metadata.Key<String> TRACEPARENT =
            Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> TRACESTATE =
            Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER);
    private static final List<String> FIELDS = List.of("traceparent", "tracestate");

    /** Reads a header by its lower-case name; null when absent. */
    private static final TextMapGetter<UnaryOperator<String>> HEADERS = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(UnaryOperator<String> headers) {
            return FIELDS;
        }

        @Override
        public String get(UnaryOperator<String> headers, String key) {
            return headers == null ? null : headers.apply(key);
        }
    };

    private final TraceControl control;

    TraceParents(TraceControl control) {
        this.control = control;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        SpanContext parent = control.enabled() ? parent(name -> switch (name) {
            case "traceparent" -> headers.get(TRACEPARENT);
            case "tracestate" -> headers.get(TRACESTATE);
            default -> null;
        }) : null;
        return parent == null ? next.startCall(call, headers)
                : Contexts.interceptCall(Context.current().withValue(PARENT, parent), call, headers, next);
    }

    /** {@code context} with the caller's span from {@code headers} (by lower-case name), if it sent one. */
    Context withParent(Context context, UnaryOperator<String> headers) {
        SpanContext parent = control.enabled() ? parent(headers) : null;
        return parent == null ? context : context.withValue(PARENT, parent);
    }

    private static SpanContext parent(UnaryOperator<String> headers) {
        if (headers.apply("traceparent") == null) {
            return null;
        }
        SpanContext parent = Span.fromContext(W3CTraceContextPropagator.getInstance()
                .extract(io.opentelemetry.context.Context.root(), headers, HEADERS)).getSpanContext();
        return parent.isValid() ? parent : null;
    }
}
