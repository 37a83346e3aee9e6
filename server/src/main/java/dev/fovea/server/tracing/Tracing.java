package dev.fovea.server.tracing;

import dev.fovea.server.limits.ClientText;
import io.grpc.Context;
import io.grpc.ServerInterceptor;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import java.util.logging.Logger;

/**
 * Request tracing with OpenTelemetry, as Triton does it: which requests are traced ({@link TraceControl}, changed at
 * run time through the Open Inference Protocol's TraceSetting), the caller's W3C trace context ({@link #interceptor},
 * {@link #withParent}), and a {@link RequestTrace} per request that builds its spans when the request is over.
 *
 * <p>Off by default, and then free: {@link #start} returns {@link RequestTrace#NONE} after one volatile read and one
 * map lookup, and no SDK object exists. The SDK (tracer provider, batch span processor and its export thread, the
 * exporter) is made when the first request is traced, and shut down, after a last export, by {@link #close}.
 */
public final class Tracing implements AutoCloseable {

    private static final Logger log = Logger.getLogger(Tracing.class.getName());

    private final TraceConfig config;
    private final Supplier<SpanExporter> exporter;
    /** Where spans go, for the log. */
    private final String destination;
    private final TraceControl control;
    private final TraceParents parents;
    // Made once, under this; read without it once made.
    private volatile Tracer tracer;
    private SdkTracerProvider provider;
    private boolean closed;

    private Tracing(TraceConfig config, Supplier<SpanExporter> exporter, String destination) {
        this.config = Objects.requireNonNull(config, "config");
        this.exporter = exporter;
        this.destination = destination;
        this.control = new TraceControl(config.settings());
        this.parents = new TraceParents(control);
    }

    /** Tracing per {@code config}, exporting OTLP/HTTP protobuf to {@link TraceConfig#url()}. */
    public static Tracing of(TraceConfig config) {
        return new Tracing(config, () -> OtlpHttpSpanExporter.builder().setEndpoint(config.url().toString())
                .build(), config.url().toString());
    }

    /** Tracing per {@code config} (its URL unused), exporting to {@code exporter}, which this closes. */
    public static Tracing exportingTo(TraceConfig config, SpanExporter exporter) {
        Objects.requireNonNull(exporter, "exporter");
        return new Tracing(config, () -> exporter, exporter.toString());
    }

    public TraceControl control() {
        return control;
    }

    /** Puts the caller's trace context (W3C metadata) into each call's gRPC context; install on every listener. */
    public ServerInterceptor interceptor() {
        return parents;
    }

    /** {@code context} with the caller's trace context from HTTP headers ({@code headers} reads one by name). */
    public Context withParent(Context context, UnaryOperator<String> headers) {
        return parents.withParent(context, headers);
    }

    /**
     * The trace of a request for {@code model} (a client's name: unknown names trace per the global settings) that
     * arrived at {@code startNanos} ({@link System#nanoTime()}), in the current gRPC context: traced if tracing is on
     * for the model and either the caller sent a sampled {@code traceparent} (whatever the rate and count, as Triton
     * does) or, without one, the rate and count pick this request.
     *
     * @param version the version the request asked for; "" for none
     */
    public RequestTrace start(String spanName, String model, String version, long startNanos) {
        TraceControl.Scope scope = control.scope(model);
        if (!scope.on()) {
            return RequestTrace.NONE;
        }
        SpanContext parent = TraceParents.PARENT.get();
        if (parent != null ? !parent.isSampled() : !scope.sample()) {
            return RequestTrace.NONE;
        }
        Tracer tracer = tracer();
        return tracer == null ? RequestTrace.NONE : new RecordedTrace(tracer, spanName,
                ClientText.echoedValue(model), ClientText.echoedValue(version), parent, startNanos);
    }

    /** Exports the spans ended so far, waiting at most {@code timeoutMillis}; true if they all went. */
    public boolean flush(long timeoutMillis) {
        SdkTracerProvider made;
        synchronized (this) {
            made = provider;
        }
        return made == null || made.forceFlush().join(timeoutMillis, TimeUnit.MILLISECONDS).isSuccess();
    }

    /** Exports what is left (waiting up to five seconds) and stops; later requests are not traced. */
    @Override
    public void close() {
        SdkTracerProvider made;
        synchronized (this) {
            closed = true;
            made = provider;
            tracer = null;
        }
        if (made != null) {
            made.shutdown().join(5, TimeUnit.SECONDS);
        }
    }

    /** The SDK's tracer, made on first use; null once closed. */
    private Tracer tracer() {
        Tracer made = tracer;
        if (made != null) {
            return made;
        }
        synchronized (this) {
            if (closed) {
                return null;
            }
            if (tracer == null) {
                AttributesBuilder resource = Attributes.builder();
                config.resource().forEach(resource::put);
                provider = SdkTracerProvider.builder()
                        .setResource(Resource.getDefault().merge(Resource.create(resource.build())))
                        .setSampler(Sampler.alwaysOn())
                        .addSpanProcessor(BatchSpanProcessor.builder(exporter.get())
                                .setMaxQueueSize(config.maxQueueSize())
                                .setMaxExportBatchSize(config.maxExportBatchSize())
                                .setScheduleDelay(Duration.ofMillis(config.scheduleDelayMillis()))
                                .build())
                        .build();
                tracer = provider.get("dev.fovea.server");
                log.info("tracing: the first request is traced; spans go to " + destination);
            }
            return tracer;
        }
    }
}
