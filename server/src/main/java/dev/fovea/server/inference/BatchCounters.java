package dev.fovea.server.inference;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/** What one model's instances have run, counted across all of them; for metrics and tests. Thread-safe. */
final class BatchCounters {

    private final AtomicLong batchesRun = new AtomicLong();
    private final AtomicInteger inForward = new AtomicInteger();
    private final AtomicInteger peakInForward = new AtomicInteger();

    /** A batch (or a request rerun alone) reached the model; returns its number among the model's batches. */
    long batchStarted() {
        return batchesRun.incrementAndGet();
    }

    /** Runs {@code forward}, counting how many of the model's batches are in forward at once. */
    <T> T countingForward(Supplier<T> forward) {
        peakInForward.accumulateAndGet(inForward.incrementAndGet(), Math::max);
        try {
            return forward.get();
        } finally {
            inForward.decrementAndGet();
        }
    }

    long batchesRun() {
        return batchesRun.get();
    }

    int peakConcurrentForwards() {
        return peakInForward.get();
    }
}
