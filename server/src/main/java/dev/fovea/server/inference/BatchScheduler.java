package dev.fovea.server.inference;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One model's queue and batch formation, in plain Java: a bounded queue of live requests, batches formed per
 * {@link Batching}, requests whose deadline passed or whose caller left dropped before they reach an executor, and a
 * drain on close. It knows nothing of devices or libtorch: each {@link BatchExecutor} (a {@link ModelInstance}, or a
 * fake in tests) gets a worker thread of its own that takes batches from here and hands them to it.
 *
 * <p>Threads: {@link #submit} is called from gRPC threads and never blocks on a batch. Dropped and refused requests
 * are completed on the thread that found them, outside the lock.
 */
final class BatchScheduler {

    /** Runs the batches one worker takes; a model instance in production. */
    interface BatchExecutor {
        /** Called once on the worker's thread, before its first batch: settings that belong to that thread. */
        void start();

        /**
         * Runs one batch of compatible requests, in queue order. Must end every job (see {@link Job}), whatever
         * happens: the scheduler does not look at a batch again. May return before the jobs have ended (a pipelined
         * executor stages the next batch while this one computes), as long as they end without another call.
         */
        void run(List<Job> batch);

        /**
         * Called once on the worker's thread after its last batch, when the scheduler closes; returns once every job
         * the executor was given has ended.
         */
        void stop();
    }

    /** A job that is no longer waited for, and the outcome its caller gets. */
    private record Drop(Job job, InferenceException why) {}

    private final String modelName;
    private final int queueCapacity;
    private final int maxBatchSize;
    private final Batching batching;
    private final List<Thread> workers = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Guarded by {@link #lock}. */
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    /** Guarded by {@link #lock}. */
    private boolean accepting = true;

    /** Starts one worker thread per executor, named after the model. */
    BatchScheduler(String modelName, int queueCapacity, int maxBatchSize, Batching batching,
            List<? extends BatchExecutor> executors) {
        this.modelName = Objects.requireNonNull(modelName, "modelName");
        this.batching = Objects.requireNonNull(batching, "batching");
        if (queueCapacity < 1 || maxBatchSize < 1 || executors.isEmpty()) {
            throw new IllegalArgumentException("queueCapacity, maxBatchSize and executors must be >= 1");
        }
        this.queueCapacity = queueCapacity;
        this.maxBatchSize = maxBatchSize;
        for (int i = 0; i < executors.size(); i++) {
            BatchExecutor executor = executors.get(i);
            workers.add(Thread.ofPlatform().name("fovea-model-" + modelName + "-" + i).daemon()
                    .unstarted(() -> work(executor)));
        }
        workers.forEach(Thread::start);
    }

    /** Requests waiting for a worker. */
    int queueDepth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Queues a request, or ends it at once (refused: invalid for this model, closed, or the queue holds
     * {@code queueCapacity} live requests). Requests whose caller stopped waiting do not count: when the queue looks
     * full they are dropped first, so a flood of expired or cancelled calls cannot lock live callers out.
     */
    Job submit(InferenceRequest request) {
        Job job = new Job(request);
        InferenceException refusal = refusal(request);
        List<Drop> dropped = List.of();
        if (refusal == null) {
            lock.lock();
            try {
                if (!accepting) {
                    refusal = new InferenceException(InferenceException.Reason.UNAVAILABLE,
                            "model " + modelName + " is shutting down");
                } else {
                    if (queue.size() >= queueCapacity) {
                        dropped = removeDead();
                    }
                    if (queue.size() >= queueCapacity) {
                        refusal = new InferenceException(InferenceException.Reason.QUEUE_FULL, "model " + modelName
                                + " has " + queueCapacity + " requests queued; retry later");
                    } else {
                        queue.addLast(job);
                        // One waiting worker is enough for one job (none is woken if all are busy); a worker that
                        // leaves jobs behind passes the signal on (see nextBatch).
                        changed.signal();
                    }
                }
            } finally {
                lock.unlock();
            }
        }
        fail(dropped);
        if (refusal != null) {
            job.fail(refusal);
        }
        return job;
    }

    /** Why {@code request} can never run on this model, or null. Checks the count first: the rest loops over it. */
    private InferenceException refusal(InferenceRequest request) {
        if (request.images().size() > maxBatchSize) {
            return new InferenceException(InferenceException.Reason.INVALID_INPUT, request.images().size()
                    + " images exceed model " + modelName + "'s max_batch_size " + maxBatchSize);
        }
        String mismatch = mismatch(request.images());
        return mismatch == null ? null : new InferenceException(InferenceException.Reason.INVALID_INPUT, mismatch);
    }

    /** Takes every queued job no one waits for out of the queue. Holds the lock; O(queue capacity). */
    private List<Drop> removeDead() {
        List<Drop> dropped = new ArrayList<>();
        long now = System.nanoTime();
        for (Iterator<Job> it = queue.iterator(); it.hasNext(); ) {
            Job job = it.next();
            InferenceException why = job.deathAt(now, modelName);
            if (why != null) {
                it.remove();
                dropped.add(new Drop(job, why));
            }
        }
        return dropped;
    }

    private static void fail(List<Drop> dropped) {
        for (Drop drop : dropped) {
            drop.job().fail(drop.why());
        }
    }

    private void work(BatchExecutor executor) {
        executor.start();
        try {
            while (true) {
                List<Job> batch;
                try {
                    batch = nextBatch();
                } catch (InterruptedException e) {
                    return;
                }
                if (batch == null) {
                    return;
                }
                executor.run(batch);
            }
        } finally {
            executor.stop();
        }
    }

    /**
     * Waits for the next batch: the oldest live request and the compatible ones queued behind it, per
     * {@link Batching}. Returns null once the scheduler is closed and the queue is empty.
     */
    private List<Job> nextBatch() throws InterruptedException {
        List<Drop> dropped = new ArrayList<>();
        try {
            lock.lockInterruptibly();
            try {
                List<Job> batch = formBatch(dropped);
                if (!queue.isEmpty()) {
                    changed.signal();
                }
                return batch;
            } finally {
                lock.unlock();
            }
        } finally {
            fail(dropped);
        }
    }

    /** Holds the lock; collects the dead jobs it meets into {@code dropped}. */
    private List<Job> formBatch(List<Drop> dropped) throws InterruptedException {
        while (true) {
            List<Job> batch = collect(dropped);
            if (batch == null) {
                return null;
            }
            // A request taken early may have died while its batch waited to fill.
            long now = System.nanoTime();
            for (Iterator<Job> it = batch.iterator(); it.hasNext(); ) {
                Job job = it.next();
                InferenceException why = job.deathAt(now, modelName);
                if (why != null) {
                    it.remove();
                    dropped.add(new Drop(job, why));
                }
            }
            if (!batch.isEmpty()) {
                return batch;
            }
        }
    }

    /** The oldest live job and, with dynamic batching, the ones that join it; null once closed and empty. */
    private List<Job> collect(List<Drop> dropped) throws InterruptedException {
        Job first;
        while ((first = pollLive(dropped)) == null) {
            if (!accepting) {
                return null;
            }
            if (!failUnlocked(dropped)) {
                changed.await();
            }
        }
        List<Job> batch = new ArrayList<>();
        batch.add(first);
        if (!batching.dynamic()) {
            return batch;
        }
        int images = first.images();
        long runBy = first.request().arrivalNanos() + batching.maxQueueDelayNanos();
        while (images < maxBatchSize && !batching.preferred(images)) {
            Job next = queue.peekFirst();
            if (next != null) {
                InferenceException why = next.deathAt(System.nanoTime(), modelName);
                if (why != null) {
                    dropped.add(new Drop(queue.pollFirst(), why));
                    continue;
                }
                if (images + next.images() > maxBatchSize || !compatible(first, next)) {
                    break;
                }
                batch.add(queue.pollFirst());
                images += next.images();
                continue;
            }
            long wait = runBy - System.nanoTime();
            if (wait <= 0 || !accepting) {
                break;
            }
            if (!failUnlocked(dropped)) {
                changed.awaitNanos(wait);
            }
        }
        return batch;
    }

    /**
     * Before a wait: fails the dropped jobs with the lock released, so their callers hear back (and their memory is
     * freed) now rather than when the batch forms. Returns whether it did, in which case the queue may have changed
     * and the caller looks again instead of waiting.
     */
    private boolean failUnlocked(List<Drop> dropped) {
        if (dropped.isEmpty()) {
            return false;
        }
        lock.unlock();
        try {
            fail(dropped);
            dropped.clear();
        } finally {
            lock.lock();
        }
        return true;
    }

    /** The oldest queued job that someone still waits for; the dead ones met on the way go to {@code dropped}. */
    private Job pollLive(List<Drop> dropped) {
        Job job;
        while ((job = queue.pollFirst()) != null) {
            InferenceException why = job.deathAt(System.nanoTime(), modelName);
            if (why == null) {
                return job;
            }
            dropped.add(new Drop(job, why));
        }
        return null;
    }

    /**
     * Why the images of one request cannot run as one batch, or null if they can: all pictures, or all tensors of one
     * dtype and shape.
     */
    private static String mismatch(List<InputImage> images) {
        InputImage first = images.getFirst();
        for (int i = 1; i < images.size(); i++) {
            if (!compatible(first, images.get(i))) {
                return first instanceof InputImage.Tensor tensor && images.get(i) instanceof InputImage.Tensor other
                        ? "images[" + i + "].tensor: " + other.dtype() + Arrays.toString(other.shape())
                                + " differs from images[0]'s " + tensor.dtype() + Arrays.toString(tensor.shape())
                                + "; one request's tensors must match"
                        : "images: a request must not mix raw tensors with encoded or pixel images";
            }
        }
        return null;
    }

    private static boolean compatible(Job first, Job next) {
        return compatible(first.request().images().getFirst(), next.request().images().getFirst());
    }

    private static boolean compatible(InputImage a, InputImage b) {
        if (a instanceof InputImage.Tensor x) {
            return b instanceof InputImage.Tensor y && x.dtype() == y.dtype() && Arrays.equals(x.shape(), y.shape());
        }
        return b instanceof InputImage.Picture;
    }

    /**
     * Stops taking requests and lets the workers finish the queued ones, waiting at most {@code timeoutMillis}.
     * Requests still queued after the wait fail with UNAVAILABLE; then the workers are interrupted and given up to
     * ten seconds more. Safe to call twice.
     */
    void close(long timeoutMillis) {
        lock.lock();
        try {
            accepting = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (Thread worker : workers) {
            joinUntil(worker, deadline);
        }
        List<Job> abandoned;
        lock.lock();
        try {
            abandoned = new ArrayList<>(queue);
            queue.clear();
        } finally {
            lock.unlock();
        }
        for (Job job : abandoned) {
            job.fail(new InferenceException(InferenceException.Reason.UNAVAILABLE,
                    "model " + modelName + " shut down"));
        }
        for (Thread worker : workers) {
            worker.interrupt();
            joinUntil(worker, System.nanoTime() + TimeUnit.SECONDS.toNanos(10));
        }
    }

    private static void joinUntil(Thread worker, long deadlineNanos) {
        long remaining = deadlineNanos - System.nanoTime();
        try {
            if (remaining > 0) {
                worker.join(TimeUnit.NANOSECONDS.toMillis(remaining) + 1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
