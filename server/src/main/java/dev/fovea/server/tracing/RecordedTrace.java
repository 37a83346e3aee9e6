package dev.fovea.server.tracing;

import dev.fovea.server.inference.Prediction;
import dev.fovea.server.inference.Predictions;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A traced request: what it needs to build its spans once it ends. The request span ({@code spanName}, kind SERVER,
 * child of the caller's {@code traceparent} when it sent one) runs from the call's start to its end; its children
 * are the stages the model timed ({@code queue}, {@code preprocess}, {@code compute}, {@code postprocess}, with the
 * batch's {@code batch_id} and {@code batch_size}) and {@code send}. Stage instants are {@link System#nanoTime()}
 * values, turned into wall-clock time through one pair of clock readings taken when the trace starts.
 *
 * <p>Threads: started on a call thread, then {@link #sending} and {@link #end} on the threads the call's future
 * hands it to, one after the other (the futures order them).
 */
final class RecordedTrace implements RequestTrace {

    private final Tracer tracer;
    private final String spanName;
    private final String model;
    private final String version;
    private final SpanContext parent;
    private final long startNanos;
    private final long epochNanosAtAnchor;
    private final long nanoTimeAtAnchor;
    private final AtomicBoolean ended = new AtomicBoolean();
    private List<Prediction.Timings> timings = List.of();
    private long sendingNanos;

    /**
     * @param parent the caller's span, or null to start a new trace
     * @param startNanos when the call started, a {@link System#nanoTime()} instant
     */
    RecordedTrace(Tracer tracer, String spanName, String model, String version, SpanContext parent,
            long startNanos) {
        this.tracer = tracer;
        this.spanName = spanName;
        this.model = model;
        this.version = version;
        this.parent = parent;
        this.startNanos = startNanos;
        Instant now = Instant.now();
        this.nanoTimeAtAnchor = System.nanoTime();
        this.epochNanosAtAnchor = TimeUnit.SECONDS.toNanos(now.getEpochSecond()) + now.getNano();
    }

    @Override
    public void sending(Predictions predictions) {
        timings = predictions.list().stream().map(Prediction::timings).toList();
        sendingNanos = System.nanoTime();
    }

    @Override
    public void end(Status status) {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        long endNanos = System.nanoTime();
        SpanBuilder builder = tracer.spanBuilder(spanName).setSpanKind(SpanKind.SERVER)
                .setStartTimestamp(epoch(startNanos), TimeUnit.NANOSECONDS)
                .setAttribute("model_name", model)
                .setAttribute("rpc.grpc.status_code", status.getCode().value());
        if (!version.isEmpty()) {
            builder.setAttribute("model_version", version);
        }
        if (parent == null) {
            builder.setNoParent();
        } else {
            builder.setParent(Context.root().with(Span.wrap(parent)));
        }
        Span request = builder.startSpan();
        if (!status.isOk()) {
            request.setStatus(StatusCode.ERROR, status.getCode() + (status.getDescription() == null ? ""
                    : ": " + status.getDescription()));
        }
        if (!timings.isEmpty()) {
            stages(request, endNanos);
        }
        request.end(epoch(endNanos), TimeUnit.NANOSECONDS);
    }

    /**
     * The stage spans, each cut to the request's span (instants rounded to microseconds may reach a little past it).
     * A request's images ran in one batch: the first image's timings are the batch's, and postprocess runs from the
     * first image's start to the last one's end.
     */
    private void stages(Span request, long endNanos) {
        Context inRequest = Context.root().with(request);
        Prediction.Timings batch = timings.getFirst();
        Prediction.Timings last = timings.getLast();
        long preprocessStart = batch.preprocessStartNanos();
        long inferenceStart = batch.inferenceStartNanos();
        stage(inRequest, "queue", preprocessStart - batch.queueMicros() * 1000, preprocessStart, endNanos, batch);
        stage(inRequest, "preprocess", preprocessStart, preprocessStart + batch.preprocessMicros() * 1000, endNanos,
                batch);
        stage(inRequest, "compute", inferenceStart, inferenceStart + batch.inferenceMicros() * 1000, endNanos, batch);
        stage(inRequest, "postprocess", batch.postprocessStartNanos(),
                last.postprocessStartNanos() + last.postprocessMicros() * 1000, endNanos, batch);
        stage(inRequest, "send", sendingNanos, endNanos, endNanos, null);
    }

    private void stage(Context inRequest, String name, long from, long to, long endNanos,
            Prediction.Timings batch) {
        long start = Math.clamp(from, startNanos, endNanos);
        long end = Math.clamp(to, start, endNanos);
        SpanBuilder builder = tracer.spanBuilder(name).setParent(inRequest).setSpanKind(SpanKind.INTERNAL)
                .setStartTimestamp(epoch(start), TimeUnit.NANOSECONDS);
        if (batch != null) {
            builder.setAttribute("batch_id", batch.batchId()).setAttribute("batch_size", batch.batchSize());
        }
        builder.startSpan().end(epoch(end), TimeUnit.NANOSECONDS);
    }

    private long epoch(long nanoTime) {
        return epochNanosAtAnchor + (nanoTime - nanoTimeAtAnchor);
    }
}
