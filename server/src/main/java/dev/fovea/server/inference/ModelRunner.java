package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.TorchModule;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs one model's requests: a {@link BatchScheduler} (bounded queue, batching per {@link Batching}, expired and
 * cancelled requests dropped before compute) feeding {@code instances} {@link ModelInstance}s, which pipeline each
 * batch through staging (preprocess), forward and postprocess, staging the next batch while one computes. A full queue
 * refuses new requests at once.
 *
 * <p>Threads: {@link #submit} is called from gRPC threads and never blocks; all native work happens on the instances'
 * threads, except a CPU model's forward, which runs on the shared {@link CpuCompute} threads. The instances share the
 * module (TorchScript forward is safe to run concurrently). The futures complete on the instance's postprocess thread
 * (or, for a dropped or refused request, the thread that found it dead or refused it); callers do only quick work
 * there, such as sending the response.
 */
public final class ModelRunner implements AutoCloseable {

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

    /** Told what the runner did, for metrics; called on instance threads, so it must be quick and thread-safe. */
    public interface Observer {
        /** An observer that records nothing. */
        Observer NONE = new Observer() {
            @Override
            public void batchRan(int images, long preprocessNanos, long computeNanos) {}

            @Override
            public void requestRan(long queueNanos, long postprocessNanos) {}

            @Override
            public void stagingBufferUsed(boolean reused) {}
        };

        void batchRan(int images, long preprocessNanos, long computeNanos);

        void requestRan(long queueNanos, long postprocessNanos);

        /**
         * An instance took one of its host staging buffers for a batch: {@code reused} when the one it had was large
         * enough, false when it allocated (the first time, or a larger one for a larger batch).
         */
        void stagingBufferUsed(boolean reused);
    }

    private final TorchModule module;
    private final Settings settings;
    private final BatchCounters counters = new BatchCounters();
    private final DeviceHealth health = new DeviceHealth();
    private final BatchScheduler scheduler;

    /**
     * Takes ownership of {@code module}: {@link #close()} closes it once the queue has drained. A CPU model's forward
     * runs on {@code compute}'s threads (shared with the other CPU models, see {@link CpuCompute}); everything else,
     * and a CUDA model's forward, on the model's own instance threads.
     */
    public ModelRunner(TorchModule module, Settings settings, CpuCompute compute, Observer observer) {
        this(module, settings, compute, observer, Preprocessor::toTensor, TorchModule::forward);
    }

    /** With other preprocessing and forward stages, so tests can hold a batch in them. */
    ModelRunner(TorchModule module, Settings settings, CpuCompute compute, Observer observer,
            Staging.Preprocess preprocess, ModelInstance.Forward forward) {
        this.module = Objects.requireNonNull(module, "module");
        this.settings = Objects.requireNonNull(settings, "settings");
        List<ModelInstance> instances = new ArrayList<>(settings.instances());
        for (int i = 0; i < settings.instances(); i++) {
            instances.add(new ModelInstance(module, settings, compute, observer, counters, preprocess, forward,
                    health));
        }
        this.scheduler = new BatchScheduler(settings.modelName(), settings.queueCapacity(), settings.maxBatchSize(),
                settings.batching(), instances);
    }

    public Settings settings() {
        return settings;
    }

    /** Batches that reached the model, a failed batch's one-by-one reruns included (dropped requests never do). */
    public long batchesRun() {
        return counters.batchesRun();
    }

    /**
     * The most of this model's batches that were in forward at the same time so far: at most {@code instances}, and
     * for a CPU model at most the shared compute threads.
     */
    public int peakConcurrentBatches() {
        return counters.peakConcurrentForwards();
    }

    /**
     * Why the model's device context is unusable (a CUDA failure that every later call on the device repeats), or
     * empty while it works. Once set it stays: the model needs a new process.
     */
    public Optional<String> deviceFailure() {
        return health.failure();
    }

    /** Requests waiting for an instance, including any whose caller stopped waiting and that are not dropped yet. */
    public int queueDepth() {
        return scheduler.queueDepth();
    }

    /**
     * Queues a request. The returned future completes with one prediction per image, in order, which the caller
     * closes (see {@link Predictions}), or fails with an {@link InferenceException}. The runner owns
     * {@code request.memory()} from this call on, also when it refuses. The queue holds at most
     * {@code queueCapacity} requests whose caller still waits; expired and cancelled ones never lock others out.
     */
    public CompletableFuture<Predictions> submit(InferenceRequest request) {
        return scheduler.submit(request).result();
    }

    /**
     * Stops taking requests, lets the instances finish the queued ones (waiting at most {@code timeoutMillis}), then
     * closes the module. Requests still queued after the wait fail with UNAVAILABLE. Safe to call twice.
     */
    public void close(long timeoutMillis) {
        scheduler.close(timeoutMillis);
        // An instance stuck in native code past the grace period still holds the module; NativeHandle defers the free.
        module.close();
    }

    @Override
    public void close() {
        close(TimeUnit.SECONDS.toMillis(30));
    }
}
