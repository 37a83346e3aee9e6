package dev.fovea.server.metrics;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * One model's cumulative statistics since the server started, in the shape of Triton's statistics extension:
 * request outcomes with their total time, per-stage totals, and per-batch-size totals. Thread-safe; updated by the
 * model's runner and the services, read by ModelStatistics calls.
 */
public final class ModelStatistics {

    /** A count and the nanoseconds those events took in all. */
    public record Duration(long count, long nanos) {}

    /** Totals for batches of one size. */
    public record BatchTotals(int batchSize, Duration computeInput, Duration computeInfer, Duration computeOutput) {}

    /** A consistent-enough copy for one report (each field is read atomically, not all of them together). */
    public record Snapshot(long lastInferenceMillis, long inferenceCount, long executionCount, Duration success,
            Duration fail, Duration queue, Duration computeInput, Duration computeInfer, Duration computeOutput,
            Map<Integer, BatchTotals> batches) {}

    private static final class Total {
        final LongAdder count = new LongAdder();
        final LongAdder nanos = new LongAdder();

        void add(long nanos) {
            count.increment();
            this.nanos.add(nanos);
        }

        Duration snapshot() {
            return new Duration(count.sum(), nanos.sum());
        }
    }

    private record BatchTotal(Total input, Total infer, Total output) {
        BatchTotal() {
            this(new Total(), new Total(), new Total());
        }
    }

    private final AtomicLong lastInferenceMillis = new AtomicLong();
    private final LongAdder inferences = new LongAdder();
    private final LongAdder executions = new LongAdder();
    private final Total success = new Total();
    private final Total fail = new Total();
    private final Total queue = new Total();
    private final Total computeInput = new Total();
    private final Total computeInfer = new Total();
    private final Total computeOutput = new Total();
    private final Map<Integer, BatchTotal> batches = new ConcurrentHashMap<>();

    void batchRan(int images, long preprocessNanos, long computeNanos) {
        lastInferenceMillis.set(System.currentTimeMillis());
        inferences.add(images);
        executions.increment();
        computeInput.add(preprocessNanos);
        computeInfer.add(computeNanos);
        BatchTotal batch = batches.computeIfAbsent(images, size -> new BatchTotal());
        batch.input().add(preprocessNanos);
        batch.infer().add(computeNanos);
    }

    void requestRan(long queueNanos, long postprocessNanos) {
        queue.add(queueNanos);
        computeOutput.add(postprocessNanos);
    }

    void requestFinished(boolean ok, long nanos) {
        (ok ? success : fail).add(nanos);
    }

    public Snapshot snapshot() {
        Map<Integer, BatchTotals> byBatch = new TreeMap<>();
        batches.forEach((size, total) -> byBatch.put(size, new BatchTotals(size, total.input().snapshot(),
                total.infer().snapshot(), total.output().snapshot())));
        return new Snapshot(lastInferenceMillis.get(), inferences.sum(), executions.sum(), success.snapshot(),
                fail.snapshot(), queue.snapshot(), computeInput.snapshot(), computeInfer.snapshot(),
                computeOutput.snapshot(), byBatch);
    }
}
