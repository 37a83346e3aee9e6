package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs one model's requests: a bounded queue, and {@code instances} worker threads that each take a batch (see
 * {@link Batching}), preprocess it on the model's device, run forward and postprocess. A full queue refuses new
 * requests at once. A request whose deadline passed or whose caller went away is dropped before any compute.
 *
 * <p>Threads: {@link #submit} is called from gRPC threads and never blocks; all native work happens on the workers
 * (CUDA models) or on the shared {@link CpuCompute} threads the workers hand their batches to (CPU models), which
 * share the module (TorchScript forward is safe to run concurrently). The futures complete on the thread that ran
 * the batch, so callers hand follow-up work to their own executor.
 */
public final class ModelRunner implements AutoCloseable {

    private static final Logger log = Logger.getLogger(ModelRunner.class.getName());

    /** How a model's requests are run. */
    public record Settings(
            String modelName,
            Device device,
            Preprocessing preprocessing,
            boolean classifier,
            List<String> labels,
            int intraOpThreads,
            int queueCapacity,
            int maxBatchSize,
            int instances,
            Batching batching) {

        public Settings {
            Objects.requireNonNull(modelName, "modelName");
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(preprocessing, "preprocessing");
            Objects.requireNonNull(batching, "batching");
            labels = List.copyOf(labels);
            if (queueCapacity < 1 || maxBatchSize < 1 || instances < 1 || intraOpThreads < 0) {
                throw new IllegalArgumentException(
                        "queueCapacity, maxBatchSize and instances must be >= 1, threads >= 0");
            }
        }
    }

    /** Told what the runner did, for metrics; called on worker threads, so it must be quick and thread-safe. */
    public interface Observer {
        /** An observer that records nothing. */
        Observer NONE = new Observer() {
            @Override
            public void batchRan(int images, long preprocessNanos, long computeNanos) {}

            @Override
            public void requestRan(long queueNanos, long postprocessNanos) {}
        };

        void batchRan(int images, long preprocessNanos, long computeNanos);

        void requestRan(long queueNanos, long postprocessNanos);
    }

    private record Job(InferenceRequest request, CompletableFuture<Predictions> result) {
        int images() {
            return request.images().size();
        }
    }

    private final TorchModule module;
    private final Settings settings;
    private final CpuCompute compute;
    private final Observer observer;
    private final List<Thread> workers = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Guarded by {@link #lock}. */
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    /** Guarded by {@link #lock}. */
    private boolean accepting = true;
    private final AtomicLong batchesRun = new AtomicLong();
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger peakRunning = new AtomicInteger();

    /**
     * Takes ownership of {@code module}: {@link #close()} closes it once the queue has drained. A CPU model's batches
     * run on {@code compute}'s threads (shared with the other CPU models, see {@link CpuCompute}); a CUDA model's on
     * its own workers.
     */
    public ModelRunner(TorchModule module, Settings settings, CpuCompute compute, Observer observer) {
        this.module = Objects.requireNonNull(module, "module");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.compute = Objects.requireNonNull(compute, "compute");
        this.observer = Objects.requireNonNull(observer, "observer");
        for (int i = 0; i < settings.instances(); i++) {
            Thread worker = Thread.ofPlatform().name("fovea-model-" + settings.modelName() + "-" + i).daemon()
                    .unstarted(this::work);
            workers.add(worker);
            worker.start();
        }
    }

    public Settings settings() {
        return settings;
    }

    /** Batches that reached the model (dropped requests never do); for metrics and tests. */
    public long batchesRun() {
        return batchesRun.get();
    }

    /** The most batches that ran at the same time so far: at most {@code instances}. */
    public int peakConcurrentBatches() {
        return peakRunning.get();
    }

    /** Requests waiting for a worker. */
    public int queueDepth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Queues a request. The returned future completes with one prediction per image, in order, which the caller
     * closes (see {@link Predictions}), or fails with an {@link InferenceException}. The runner owns
     * {@code request.memory()} from this call on, also when it refuses.
     */
    public CompletableFuture<Predictions> submit(InferenceRequest request) {
        CompletableFuture<Predictions> result = new CompletableFuture<>();
        InferenceException refusal = null;
        lock.lock();
        try {
            String mismatch = mismatch(request.images());
            if (mismatch != null) {
                refusal = new InferenceException(InferenceException.Reason.INVALID_INPUT, mismatch);
            } else if (request.images().size() > settings.maxBatchSize()) {
                refusal = new InferenceException(InferenceException.Reason.INVALID_INPUT, request.images().size()
                        + " images exceed model " + settings.modelName() + "'s max_batch_size "
                        + settings.maxBatchSize());
            } else if (!accepting) {
                refusal = new InferenceException(InferenceException.Reason.UNAVAILABLE,
                        "model " + settings.modelName() + " is shutting down");
            } else if (queue.size() >= settings.queueCapacity()) {
                refusal = new InferenceException(InferenceException.Reason.QUEUE_FULL, "model "
                        + settings.modelName() + " has " + settings.queueCapacity() + " requests queued; retry later");
            } else {
                queue.addLast(new Job(request, result));
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
        if (refusal != null) {
            request.memory().close();
            result.completeExceptionally(refusal);
        }
        return result;
    }

    private void work() {
        boolean onCpu = settings.device().equals(Device.CPU);
        if (!onCpu && settings.intraOpThreads() > 0) {
            // With OpenMP, libtorch's thread count is per calling thread: this sets it for this model's workers.
            TorchRuntime.setIntraOpThreads(settings.intraOpThreads());
        }
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
            if (onCpu) {
                compute.run(settings.intraOpThreads(), () -> runAndCount(batch));
            } else {
                runAndCount(batch);
            }
        }
    }

    /**
     * Waits for the next batch: the oldest live request and the compatible ones queued behind it, per
     * {@link Batching}. Returns null once the runner is closed and the queue is empty.
     */
    private List<Job> nextBatch() throws InterruptedException {
        lock.lock();
        try {
            Job first;
            while ((first = pollLive()) == null) {
                if (!accepting) {
                    return null;
                }
                changed.await();
            }
            List<Job> batch = new ArrayList<>();
            batch.add(first);
            if (!settings.batching().dynamic()) {
                return batch;
            }
            int images = first.images();
            long runBy = first.request().arrivalNanos() + settings.batching().maxQueueDelayNanos();
            while (images < settings.maxBatchSize() && !settings.batching().preferred(images)) {
                Job next = queue.peekFirst();
                if (next != null && dropIfDead(next)) {
                    queue.pollFirst();
                    continue;
                }
                if (next != null) {
                    if (images + next.images() > settings.maxBatchSize() || !compatible(first, next)) {
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
                changed.awaitNanos(wait);
            }
            return batch;
        } finally {
            lock.unlock();
        }
    }

    /** The oldest queued request that someone still waits for; the others are failed on the way. Holds the lock. */
    private Job pollLive() {
        Job job;
        while ((job = queue.pollFirst()) != null) {
            if (!dropIfDead(job)) {
                return job;
            }
        }
        return null;
    }

    /** Fails and frees a request whose deadline passed or whose caller left; true if it did. */
    private boolean dropIfDead(Job job) {
        InferenceRequest request = job.request();
        long now = System.nanoTime();
        // Deadline first: a call whose deadline passed also reads as cancelled.
        InferenceException why = null;
        if (request.expired(now)) {
            why = new InferenceException(InferenceException.Reason.DEADLINE_EXCEEDED, "the deadline passed after "
                    + (now - request.arrivalNanos()) / 1000 + " µs in the queue of model " + settings.modelName()
                    + "; the request was not run");
        } else if (request.cancelled().getAsBoolean()) {
            why = new InferenceException(InferenceException.Reason.CANCELLED, "the caller cancelled the request");
        }
        if (why == null) {
            return false;
        }
        request.memory().close();
        job.result().completeExceptionally(why);
        return true;
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

    private Void runAndCount(List<Job> batch) {
        int now = running.incrementAndGet();
        peakRunning.accumulateAndGet(now, Math::max);
        try {
            runAndComplete(batch);
        } finally {
            running.decrementAndGet();
        }
        return null;
    }

    /** A job's result: its predictions, or why it failed. */
    private record Outcome(Predictions predictions, InferenceException failure) {}

    private void runAndComplete(List<Job> batch) {
        List<Outcome> outcomes = new ArrayList<>(batch.size());
        try {
            try {
                for (Predictions predictions : run(batch)) {
                    outcomes.add(new Outcome(predictions, null));
                }
            } catch (InferenceException e) {
                // One bad image must not fail the other callers' requests that shared its batch: run each alone.
                if (batch.size() == 1) {
                    outcomes.add(new Outcome(null, e));
                } else {
                    for (Job job : batch) {
                        outcomes.add(runAlone(job));
                    }
                }
            }
        } catch (RuntimeException | Error e) {
            log.log(Level.SEVERE, "model " + settings.modelName() + " failed unexpectedly", e);
            InferenceException failure = new InferenceException(InferenceException.Reason.MODEL_ERROR,
                    "model " + settings.modelName() + " failed: " + e, e);
            outcomes.forEach(outcome -> {
                if (outcome.predictions() != null) {
                    outcome.predictions().close();
                }
            });
            outcomes.clear();
            batch.forEach(job -> outcomes.add(new Outcome(null, failure)));
        } finally {
            // Freed before the callers hear back: predictions view output memory, never request memory.
            for (Job job : batch) {
                job.request().memory().close();
            }
        }
        for (int i = 0; i < batch.size(); i++) {
            Outcome outcome = outcomes.get(i);
            if (outcome.failure() != null) {
                batch.get(i).result().completeExceptionally(outcome.failure());
            } else {
                batch.get(i).result().complete(outcome.predictions());
            }
        }
    }

    private Outcome runAlone(Job job) {
        try {
            return new Outcome(run(List.of(job)).getFirst(), null);
        } catch (InferenceException e) {
            return new Outcome(null, e);
        }
    }

    /** One result per job, in order. */
    private List<Predictions> run(List<Job> batch) {
        long start = System.nanoTime();
        batchesRun.incrementAndGet();
        List<InputImage> images = new ArrayList<>();
        for (Job job : batch) {
            images.addAll(job.request().images());
        }
        boolean pictures = images.getFirst() instanceof InputImage.Picture;
        try (Arena scratch = Arena.ofConfined();
                Tensor input = pictures ? preprocess(images) : stackTensors(images, scratch)) {
            long preprocessed = System.nanoTime();
            List<Tensor> outputs = pictures ? forward(input, true) : ownedOutputs(forward(input, false), input);
            long inferred = System.nanoTime();
            try (Postprocessor postprocessor = new Postprocessor(outputs, images.size(), settings)) {
                List<Predictions> results = new ArrayList<>(batch.size());
                int offset = 0;
                observer.batchRan(images.size(), preprocessed - start, inferred - preprocessed);
                try {
                    for (Job job : batch) {
                        InferenceRequest request = job.request();
                        long postprocessStart = System.nanoTime();
                        results.add(postprocessor.predictions(request, offset, new long[] {
                            start - request.arrivalNanos(), preprocessed - start, inferred - preprocessed}));
                        observer.requestRan(start - request.arrivalNanos(), System.nanoTime() - postprocessStart);
                        offset += request.images().size();
                    }
                } catch (RuntimeException e) {
                    results.forEach(Predictions::close);
                    throw e;
                }
                return results;
            }
        }
    }

    private Tensor preprocess(List<InputImage> images) {
        List<ImageInput> pictures = new ArrayList<>(images.size());
        for (InputImage image : images) {
            pictures.add(((InputImage.Picture) image).image());
        }
        try {
            return Preprocessor.toTensor(pictures, settings.preprocessing(), settings.device());
        } catch (NativeException e) {
            throw translate(e, true);
        }
    }

    /** Copies same-shaped tensors (batches only hold compatible requests) into one [n, ...] batch. */
    private Tensor stackTensors(List<InputImage> images, Arena scratch) {
        InputImage.Tensor first = (InputImage.Tensor) images.getFirst();
        long bytesEach = first.data().byteSize();
        MemorySegment stacked = scratch.allocate(bytesEach * images.size(), 16);
        for (int i = 0; i < images.size(); i++) {
            MemorySegment.copy(((InputImage.Tensor) images.get(i)).data(), 0, stacked, i * bytesEach, bytesEach);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = images.size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        Tensor host = Tensor.wrap(stacked, first.dtype(), shape);
        if (settings.device().equals(Device.CPU)) {
            return host;
        }
        try (host) {
            return host.to(settings.device());
        }
    }

    /**
     * The outputs, with every one that shares memory with {@code input} (a model returning {@code x} or
     * {@code x.view(...)}) replaced by a copy. A stacked tensor input is a view of the batch's scratch arena, freed when
     * the batch is done, while outputs live on until the responses are sent.
     */
    private static List<Tensor> ownedOutputs(List<Tensor> outputs, Tensor input) {
        if (!input.device().equals(Device.CPU)) {
            return outputs;
        }
        MemorySegment inputBytes = input.data();
        List<Tensor> owned = new ArrayList<>(outputs.size());
        try {
            for (Tensor output : outputs) {
                boolean sharesInput = output.device().equals(Device.CPU)
                        && inputBytes.asOverlappingSlice(output.data()).isPresent();
                owned.add(sharesInput ? output.to(Device.CPU) : output);
            }
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            outputs.forEach(Tensor::close);
            throw e;
        }
        for (Tensor output : outputs) {
            if (!owned.contains(output)) {
                output.close();
            }
        }
        return owned;
    }

    private List<Tensor> forward(Tensor batch, boolean pictures) {
        try {
            return module.forward(batch);
        } catch (NativeException e) {
            // A raw tensor the model rejects is the caller's mistake; a preprocessed picture it rejects is ours.
            throw translate(e, !pictures);
        }
    }

    private InferenceException translate(NativeException e, boolean callersInput) {
        if (e.kind() == NativeException.Kind.OUT_OF_MEMORY) {
            return new InferenceException(InferenceException.Reason.OUT_OF_MEMORY, e.getMessage(), e);
        }
        if (callersInput && (e.kind() == NativeException.Kind.INVALID_ARGUMENT
                || e.kind() == NativeException.Kind.TORCH)) {
            return new InferenceException(InferenceException.Reason.INVALID_INPUT, e.getMessage(), e);
        }
        return new InferenceException(InferenceException.Reason.MODEL_ERROR,
                "model " + settings.modelName() + " failed: " + e.getMessage(), e);
    }

    /**
     * Stops taking requests, lets the workers finish the queued ones (waiting at most {@code timeoutMillis}), then
     * closes the module. Requests still queued after the wait fail with UNAVAILABLE. Safe to call twice.
     */
    public void close(long timeoutMillis) {
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
        List<Job> abandoned = new ArrayList<>();
        lock.lock();
        try {
            abandoned.addAll(queue);
            queue.clear();
        } finally {
            lock.unlock();
        }
        for (Job job : abandoned) {
            job.request().memory().close();
            job.result().completeExceptionally(new InferenceException(InferenceException.Reason.UNAVAILABLE,
                    "model " + settings.modelName() + " shut down"));
        }
        for (Thread worker : workers) {
            worker.interrupt();
            joinUntil(worker, System.nanoTime() + TimeUnit.SECONDS.toNanos(10));
        }
        // A worker stuck in native code past the grace period still holds the module; NativeHandle defers the free.
        module.close();
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

    @Override
    public void close() {
        close(TimeUnit.SECONDS.toMillis(30));
    }
}
