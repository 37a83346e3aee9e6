package dev.fovea.server.metrics;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.torch.MallocHeap;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The server's Prometheus metrics, registered in one registry (exported by {@code fovea serve --metrics-port}):
 *
 * <ul>
 *   <li>{@code fovea_requests_total{model, outcome}}: requests (a Predict call, or one stream frame) by outcome:
 *       {@code ok}, {@code skipped} (latest-only), or the lower-case gRPC status of a failure;
 *   <li>{@code fovea_stage_duration_seconds{model, stage}}: {@code queue} and {@code postprocess} per request,
 *       {@code preprocess} and {@code compute} per batch;
 *   <li>{@code fovea_batch_size{model}}: images per batch run (the warm-up batch at load time included);
 *   <li>{@code fovea_queue_depth{model}}: requests waiting for a worker, read at scrape time (a model that is
 *       not loaded has none);
 *   <li>{@code fovea_model_load_failures_total{model}}: versions that failed to load or warm up (at start, on a
 *       load request or a rescan);
 *   <li>{@code fovea_native_memory_bytes}: bytes the process holds from the C allocator (libtorch's CPU tensors,
 *       requests in native memory, Netty's direct buffers), read at scrape time; absent without glibc's mallinfo2.
 * </ul>
 *
 * Thread-safe. Model labels only ever carry names of the repository's models ({@code unknown} for the rest), so a
 * client cannot grow the label set. A model's series and statistics outlive its unloading and continue when it loads
 * again; all its versions count under its name.
 */
public final class ServerMetrics {

    private static final double[] SECONDS = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    private static final double[] BATCH_SIZES = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private final PrometheusRegistry registry;
    private final Counter requests;
    private final Histogram stages;
    private final Histogram batchSizes;
    private final Counter loadFailures;
    private final Map<String, ModelStatistics> statistics = new ConcurrentHashMap<>();
    private final LongAdder finished = new LongAdder();

    public ServerMetrics(PrometheusRegistry registry) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.requests = Counter.builder().name("fovea_requests_total")
                .help("Requests (Predict calls and stream frames) by model and outcome")
                .labelNames("model", "outcome").register(registry);
        this.stages = Histogram.builder().name("fovea_stage_duration_seconds")
                .help("Time per stage: queue and postprocess per request, preprocess and compute per batch")
                .labelNames("model", "stage").classicOnly().classicUpperBounds(SECONDS).register(registry);
        this.batchSizes = Histogram.builder().name("fovea_batch_size").help("Images per batch run")
                .labelNames("model").classicOnly().classicUpperBounds(BATCH_SIZES).register(registry);
        this.loadFailures = Counter.builder().name("fovea_model_load_failures_total")
                .help("Model versions that failed to load or warm up, by model").labelNames("model")
                .register(registry);
        if (MallocHeap.available()) {
            GaugeWithCallback.builder().name("fovea_native_memory_bytes")
                    .help("Bytes held from the C allocator: libtorch CPU tensors, native request buffers, "
                            + "direct buffers")
                    .callback(callback -> callback.call(MallocHeap.bytesInUse())).register(registry);
        }
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    /** Reports each model's queue depth at scrape time; {@code depths} maps model name to requests waiting. */
    public void exportQueueDepths(Supplier<Map<String, Integer>> depths) {
        GaugeWithCallback.builder().name("fovea_queue_depth").help("Requests waiting for a worker, by model")
                .labelNames("model")
                .callback(callback -> depths.get().forEach((model, depth) -> callback.call(depth, model)))
                .register(registry);
    }

    /**
     * Counts one finished request that took {@code nanos} from arrival; {@code model} must be a repository model's
     * name or "unknown".
     */
    public void requestFinished(String model, String outcome, long nanos) {
        finished.increment();
        requests.labelValues(model, outcome).inc();
        if (!outcome.equals("skipped")) {
            statisticsOf(model).requestFinished(outcome.equals("ok"), nanos);
        }
    }

    /** A version of {@code model} (a folder of the repository) failed to load or warm up. */
    public void modelLoadFailed(String model) {
        loadFailures.labelValues(model).inc();
    }

    /** Requests (and stream frames) finished since start, whatever their outcome. */
    public long requestsFinished() {
        return finished.sum();
    }

    /** {@code model}'s statistics since start (all zero for a model that never ran). */
    public ModelStatistics.Snapshot statistics(String model) {
        return statisticsOf(model).snapshot();
    }

    private ModelStatistics statisticsOf(String model) {
        return statistics.computeIfAbsent(model, name -> new ModelStatistics());
    }

    /** The observer that records what {@code model}'s runner does. */
    public ModelRunner.Observer observerFor(String model) {
        return observerFor(model, () -> true);
    }

    /**
     * The observer that records what a runner of {@code model} (one of its versions) does; its statistics count only
     * while {@code counting} is true (after the version's warm-up), the Prometheus series always.
     */
    public ModelRunner.Observer observerFor(String model, BooleanSupplier counting) {
        // Looked up per event, not captured: forgetStatistics replaces the model's totals.
        return new ModelRunner.Observer() {
            @Override
            public void batchRan(int images, long preprocessNanos, long computeNanos) {
                batchSizes.labelValues(model).observe(images);
                if (counting.getAsBoolean()) {
                    statisticsOf(model).batchRan(images, preprocessNanos, computeNanos);
                }
                stages.labelValues(model, "preprocess").observe(preprocessNanos / 1e9);
                stages.labelValues(model, "compute").observe(computeNanos / 1e9);
            }

            @Override
            public void requestRan(long queueNanos, long postprocessNanos) {
                stages.labelValues(model, "queue").observe(queueNanos / 1e9);
                if (counting.getAsBoolean()) {
                    statisticsOf(model).requestRan(queueNanos, postprocessNanos);
                }
                stages.labelValues(model, "postprocess").observe(postprocessNanos / 1e9);
            }
        };
    }
}
