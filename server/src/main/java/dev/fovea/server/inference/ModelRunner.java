package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs one model's requests, one at a time and in arrival order, on a worker thread of its own: preprocess on the
 * model's device, forward, postprocess. Requests wait in a bounded queue; a full queue refuses new ones at once.
 * A request whose deadline passed or whose caller went away is dropped before any compute.
 *
 * <p>Threads: {@link #submit} is called from gRPC threads and never blocks; all native work happens on the worker.
 * The futures complete on the worker thread, so callers hand follow-up work to their own executor.
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
            int maxBatchSize) {

        public Settings {
            Objects.requireNonNull(modelName, "modelName");
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(preprocessing, "preprocessing");
            labels = List.copyOf(labels);
            if (queueCapacity < 1 || maxBatchSize < 1 || intraOpThreads < 0) {
                throw new IllegalArgumentException("queueCapacity and maxBatchSize must be >= 1, threads >= 0");
            }
        }
    }

    private record Job(InferenceRequest request, CompletableFuture<List<Prediction>> result) {}

    private static final Job STOP = new Job(null, null);

    private final TorchModule module;
    private final Settings settings;
    private final BlockingQueue<Job> queue;
    private final Thread worker;
    private volatile boolean accepting = true;
    private final AtomicLong batchesRun = new AtomicLong();

    /** Takes ownership of {@code module}: {@link #close()} closes it once the queue has drained. */
    public ModelRunner(TorchModule module, Settings settings) {
        this.module = Objects.requireNonNull(module, "module");
        this.settings = Objects.requireNonNull(settings, "settings");
        // One extra slot so the stop marker always fits behind a full queue.
        this.queue = new ArrayBlockingQueue<>(settings.queueCapacity() + 1);
        this.worker = Thread.ofPlatform().name("fovea-model-" + settings.modelName()).daemon().unstarted(this::work);
        worker.start();
    }

    public Settings settings() {
        return settings;
    }

    /** Requests that reached the model (dropped ones never do); for metrics and tests. */
    public long batchesRun() {
        return batchesRun.get();
    }

    /** Requests waiting, not counting the one running. */
    public int queueDepth() {
        return queue.size();
    }

    /**
     * Queues a request. The returned future completes with one prediction per image, in order, or fails with an
     * {@link InferenceException}. The runner owns {@code request.memory()} from this call on, also when it refuses.
     */
    public CompletableFuture<List<Prediction>> submit(InferenceRequest request) {
        CompletableFuture<List<Prediction>> result = new CompletableFuture<>();
        if (request.images().size() > settings.maxBatchSize()) {
            return refuse(request, result, new InferenceException(InferenceException.Reason.INVALID_INPUT,
                    request.images().size() + " images exceed model " + settings.modelName() + "'s max_batch_size "
                            + settings.maxBatchSize()));
        }
        if (!accepting) {
            return refuse(request, result, new InferenceException(InferenceException.Reason.UNAVAILABLE,
                    "model " + settings.modelName() + " is shutting down"));
        }
        // remainingCapacity keeps the stop marker's slot free.
        if (queue.remainingCapacity() <= 1 || !queue.offer(new Job(request, result))) {
            return refuse(request, result, new InferenceException(InferenceException.Reason.QUEUE_FULL,
                    "model " + settings.modelName() + " has " + settings.queueCapacity()
                            + " requests queued; retry later"));
        }
        return result;
    }

    private static CompletableFuture<List<Prediction>> refuse(InferenceRequest request,
            CompletableFuture<List<Prediction>> result, InferenceException why) {
        request.memory().close();
        result.completeExceptionally(why);
        return result;
    }

    private void work() {
        if (settings.intraOpThreads() > 0) {
            // With OpenMP, libtorch's thread count is per calling thread: this sets it for this model's worker.
            TorchRuntime.setIntraOpThreads(settings.intraOpThreads());
        }
        while (true) {
            Job job;
            try {
                job = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (job == STOP) {
                return;
            }
            List<Prediction> predictions = null;
            InferenceException failure = null;
            try {
                predictions = run(job.request());
            } catch (InferenceException e) {
                failure = e;
            } catch (RuntimeException | Error e) {
                log.log(Level.SEVERE, "model " + settings.modelName() + " failed unexpectedly", e);
                failure = new InferenceException(InferenceException.Reason.MODEL_ERROR,
                        "model " + settings.modelName() + " failed: " + e, e);
            } finally {
                // Freed before the caller hears back: predictions hold copies, never request memory.
                job.request().memory().close();
            }
            if (failure != null) {
                job.result().completeExceptionally(failure);
            } else {
                job.result().complete(predictions);
            }
        }
    }

    private List<Prediction> run(InferenceRequest request) {
        long start = System.nanoTime();
        // Deadline first: a call whose deadline passed also reads as cancelled.
        if (request.expired(start)) {
            throw new InferenceException(InferenceException.Reason.DEADLINE_EXCEEDED,
                    "the deadline passed after " + (start - request.arrivalNanos()) / 1000
                            + " µs in the queue of model " + settings.modelName() + "; the request was not run");
        }
        if (request.cancelled().getAsBoolean()) {
            throw new InferenceException(InferenceException.Reason.CANCELLED, "the caller cancelled the request");
        }
        batchesRun.incrementAndGet();
        boolean pictures = request.images().getFirst() instanceof InputImage.Picture;
        try (Tensor batch = pictures ? preprocess(request) : stackTensors(request)) {
            long preprocessed = System.nanoTime();
            List<Tensor> outputs = forward(batch, pictures);
            long inferred = System.nanoTime();
            try {
                return Postprocessor.predictions(request, outputs, settings, new long[] {
                    start - request.arrivalNanos(), preprocessed - start, inferred - preprocessed});
            } finally {
                outputs.forEach(Tensor::close);
            }
        }
    }

    private Tensor preprocess(InferenceRequest request) {
        List<dev.fovea.torch.ImageInput> images = new ArrayList<>(request.images().size());
        for (InputImage image : request.images()) {
            if (!(image instanceof InputImage.Picture picture)) {
                throw mixed();
            }
            images.add(picture.image());
        }
        try {
            return Preprocessor.toTensor(images, settings.preprocessing(), settings.device());
        } catch (NativeException e) {
            throw translate(e, true);
        }
    }

    private Tensor stackTensors(InferenceRequest request) {
        InputImage.Tensor first = (InputImage.Tensor) request.images().getFirst();
        long bytesEach = first.data().byteSize();
        MemorySegment stacked = request.memory().allocate(bytesEach * request.images().size(), 8);
        for (int i = 0; i < request.images().size(); i++) {
            if (!(request.images().get(i) instanceof InputImage.Tensor tensor)) {
                throw mixed();
            }
            if (tensor.dtype() != first.dtype() || !Arrays.equals(tensor.shape(), first.shape())) {
                throw new InferenceException(InferenceException.Reason.INVALID_INPUT, "images[" + i + "].tensor: "
                        + tensor.dtype() + Arrays.toString(tensor.shape()) + " differs from images[0]'s "
                        + first.dtype() + Arrays.toString(first.shape()) + "; one request's tensors must match");
            }
            MemorySegment.copy(tensor.data(), 0, stacked, i * bytesEach, bytesEach);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = request.images().size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        Tensor host = Tensor.wrap(stacked, first.dtype(), shape);
        if (settings.device().equals(Device.CPU)) {
            return host;
        }
        try (host) {
            return host.to(settings.device());
        }
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

    private static InferenceException mixed() {
        return new InferenceException(InferenceException.Reason.INVALID_INPUT,
                "images: a request must not mix raw tensors with encoded or pixel images");
    }

    /**
     * Stops taking requests, lets the queued ones finish (waiting at most {@code timeoutMillis}), then closes the
     * module. Requests still queued after the wait fail with UNAVAILABLE.
     */
    public void close(long timeoutMillis) {
        accepting = false;
        queue.offer(STOP);
        try {
            worker.join(timeoutMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            worker.interrupt();
            List<Job> abandoned = new ArrayList<>();
            queue.drainTo(abandoned);
            for (Job job : abandoned) {
                if (job != STOP) {
                    job.request().memory().close();
                    job.result().completeExceptionally(new InferenceException(
                            InferenceException.Reason.UNAVAILABLE, "model " + settings.modelName() + " shut down"));
                }
            }
            try {
                worker.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        module.close();
    }

    @Override
    public void close() {
        close(TimeUnit.SECONDS.toMillis(30));
    }
}
