package dev.fovea.server.inference;

import dev.fovea.torch.TorchRuntime;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The threads that run CPU models' forward passes, shared by all models.
 *
 * <p>Why not each model worker's own thread: libtorch's OpenMP runtime (libgomp) gives every thread that starts
 * parallel work its own team of intra-op threads, and once the process holds more such threads than there are cores
 * it cuts busy-waiting short, so every parallel region pays a futex wake-up. With a thread per model, three CPU models
 * loaded on two cores made MobileNetV3-small's forward 2.3x slower than with one (docs/benchmarks.md). Funnelling every
 * CPU model's batches through {@code threads} shared threads keeps the process at {@code threads} x intra-op threads
 * however many models and instances it serves. Model instances still form, preprocess and postprocess batches on their
 * own threads (with one intra-op thread each, see {@link ModelInstance#start}); they hand only forward here, so a model
 * whose pictures take long to decode never holds a thread the other models need.
 *
 * <p>Threads: {@link #submit} never blocks; its future completes on the compute thread.
 */
public final class CpuCompute implements AutoCloseable {

    private final ExecutorService threads;
    /** The server's intra-op thread count when this was made, for models that do not set their own. */
    private final int defaultIntraOpThreads = TorchRuntime.intraOpThreads();
    /** The intra-op thread count each compute thread last set, so it is set only when a model wants another. */
    private final ThreadLocal<Integer> intraOpThreads = ThreadLocal.withInitial(() -> 0);

    public CpuCompute(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("compute threads must be >= 1, got " + threads);
        }
        AtomicInteger number = new AtomicInteger();
        this.threads = Executors.newFixedThreadPool(threads, task -> Thread.ofPlatform()
                .name("fovea-compute-" + number.incrementAndGet()).daemon().unstarted(task));
    }

    /** One compute thread per group of {@code intraOpThreads} cores, so busy-waiting threads never outnumber cores. */
    public static int defaultThreads(int cores, int intraOpThreads) {
        return Math.max(1, cores / Math.max(1, intraOpThreads));
    }

    /**
     * Runs {@code work} on a compute thread with {@code intraOpThreads} libtorch threads (0: the server's setting).
     * The future completes on that compute thread, so what depends on it must be quick or move elsewhere.
     */
    <T> CompletableFuture<T> submit(int intraOpThreads, Supplier<T> work) {
        return CompletableFuture.supplyAsync(() -> {
            int wanted = intraOpThreads > 0 ? intraOpThreads : defaultIntraOpThreads;
            if (this.intraOpThreads.get() != wanted) {
                TorchRuntime.setIntraOpThreads(wanted);
                this.intraOpThreads.set(wanted);
            }
            return work.get();
        }, threads);
    }

    /** Stops the threads once the work already handed over has run (the runners are closed first). */
    @Override
    public void close() {
        threads.shutdown();
        try {
            threads.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
