package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.PinnedBuffer;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One execution context of a model: its device and the model's shared module, and the run of one batch on them
 * (preprocess, forward, postprocess), including the rerun of a failed batch one request at a time so that a bad input
 * fails only its own request. Native failures become {@link InferenceException}s here.
 *
 * <p>Threads: every stage runs on this instance's worker thread (see {@link BatchScheduler}) except a CPU model's
 * forward, which goes to the shared {@link CpuCompute} threads. Picture decoding and preprocessing stay on the worker
 * so that large pictures sent to one model never hold a compute thread other models wait for.
 *
 * <p>Ownership: the module belongs to {@link ModelRunner}. The instance owns its {@link DeviceStaging} (its stream,
 * current on the instance's thread, and the staging buffers reused from batch to batch), made on that thread before
 * the first batch and closed by {@link #stop}. What a batch allocates (its input tensor, output tensors no response
 * needs) is freed before the batch's callers hear back.
 */
final class ModelInstance implements BatchScheduler.BatchExecutor {

    private static final Logger log = Logger.getLogger(ModelInstance.class.getName());

    /** Turns a batch's pictures into the model's input tensor; {@link Preprocessor#toTensor} outside tests. */
    @FunctionalInterface
    interface Preprocess {
        Tensor toTensor(List<ImageInput> pictures, Preprocessing spec, Device device);
    }

    private final TorchModule module;
    private final ModelRunner.Settings settings;
    private final CpuCompute compute;
    private final ModelRunner.Observer observer;
    private final BatchCounters counters;
    private final Preprocess preprocess;
    private final DeviceHealth health;
    private final boolean onCpu;
    /** Made by the first batch, on this instance's thread (see {@link #staging()}); used only there. */
    private DeviceStaging staging;

    ModelInstance(TorchModule module, ModelRunner.Settings settings, CpuCompute compute,
            ModelRunner.Observer observer, BatchCounters counters, Preprocess preprocess, DeviceHealth health) {
        this.module = Objects.requireNonNull(module, "module");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.compute = Objects.requireNonNull(compute, "compute");
        this.observer = Objects.requireNonNull(observer, "observer");
        this.counters = Objects.requireNonNull(counters, "counters");
        this.preprocess = Objects.requireNonNull(preprocess, "preprocess");
        this.health = Objects.requireNonNull(health, "health");
        this.onCpu = settings.device().equals(Device.CPU);
    }

    /**
     * With OpenMP, libtorch's thread count is per calling thread. A CUDA instance takes the model's count for its
     * own thread. A CPU instance preprocesses on one thread: with more, this thread would start an OpenMP team of its
     * own, and the process would hold more teams than {@link CpuCompute} has threads (see there why that is slow).
     */
    @Override
    public void start() {
        if (onCpu) {
            TorchRuntime.setIntraOpThreads(1);
        } else if (settings.intraOpThreads() > 0) {
            TorchRuntime.setIntraOpThreads(settings.intraOpThreads());
        }
    }

    /** Frees the stream and staging buffers once the worker has run its last batch. */
    @Override
    public void stop() {
        if (staging != null) {
            staging.close();
            staging = null;
        }
    }

    /**
     * The instance's stream and buffers, made by the first batch rather than in {@link #start}, so that a device that
     * cannot give a stream fails that batch's requests (INTERNAL) instead of the worker thread.
     */
    private DeviceStaging staging() {
        if (staging == null) {
            staging = DeviceStaging.open(settings.device(), observer);
        }
        return staging;
    }

    /** A job's result: its predictions, or why it failed. */
    private record Outcome(Predictions predictions, InferenceException failure) {}

    @Override
    public void run(List<Job> batch) {
        List<Outcome> outcomes = new ArrayList<>(batch.size());
        try {
            try {
                for (Predictions predictions : runOnce(batch)) {
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
            return new Outcome(runOnce(List.of(job)).getFirst(), null);
        } catch (InferenceException e) {
            return new Outcome(null, e);
        }
    }

    /** One result per job, in order. */
    private List<Predictions> runOnce(List<Job> batch) {
        DeviceStaging staging;
        try {
            staging = staging();
        } catch (NativeException e) {
            throw translate(e, false, batch);
        }
        try {
            return runOnce(batch, staging);
        } catch (RuntimeException e) {
            // What the failed batch left queued must finish before the next batch reuses the staging buffers. If the
            // stream cannot even synchronize, the failure broke the device context (a CUDA sticky error).
            NativeException broken = staging.synchronizeAfterFailure();
            if (broken != null) {
                log.severe("model " + settings.modelName() + ": the " + settings.device() + " context is unusable "
                        + "after a failed batch; the model reports not ready: " + broken.getMessage());
                health.unusable(broken.getMessage());
            }
            throw e;
        }
    }

    private List<Predictions> runOnce(List<Job> batch, DeviceStaging staging) {
        long start = System.nanoTime();
        long batchId = counters.batchStarted();
        List<InputImage> images = new ArrayList<>();
        int topK = 0;
        boolean rawOutputs = false;
        for (Job job : batch) {
            images.addAll(job.request().images());
            topK = Math.max(topK, job.request().topK());
            rawOutputs |= job.request().includeOutputs();
        }
        boolean pictures = images.getFirst() instanceof InputImage.Picture;
        try (Tensor input = pictures ? preprocess(images, batch) : stackTensors(images, staging)) {
            long preprocessed = System.nanoTime();
            List<Tensor> outputs = pictures ? forward(input, true, batch)
                    : ownedOutputs(forward(input, false, batch), input);
            long inferred = System.nanoTime();
            Postprocessor postprocessor;
            try {
                postprocessor = new Postprocessor(outputs, images.size(), topK, rawOutputs, settings, staging);
            } catch (NativeException e) {
                throw translate(e, false, batch);
            }
            try (postprocessor) {
                List<Predictions> results = new ArrayList<>(batch.size());
                int offset = 0;
                observer.batchRan(images.size(), preprocessed - start, inferred - preprocessed);
                try {
                    for (Job job : batch) {
                        InferenceRequest request = job.request();
                        long postprocessStart = System.nanoTime();
                        results.add(postprocessor.predictions(request, offset,
                                new Postprocessor.Batch(batchId, start, preprocessed, inferred)));
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

    private Tensor preprocess(List<InputImage> images, List<Job> batch) {
        List<ImageInput> pictures = new ArrayList<>(images.size());
        for (InputImage image : images) {
            pictures.add(((InputImage.Picture) image).image());
        }
        try {
            return preprocess.toTensor(pictures, settings.preprocessing(), settings.device());
        } catch (NativeException e) {
            throw translate(e, true, batch);
        }
    }

    /**
     * Copies same-shaped tensors (batches only hold compatible requests) into one [n, ...] batch in the instance's
     * input staging buffer, then (for a CUDA model) to the device asynchronously on the instance's stream.
     */
    private Tensor stackTensors(List<InputImage> images, DeviceStaging staging) {
        InputImage.Tensor first = (InputImage.Tensor) images.getFirst();
        long bytesEach = first.data().byteSize();
        PinnedBuffer buffer = staging.input(Math.max(1, bytesEach * images.size()));
        MemorySegment stacked = buffer.segment();
        for (int i = 0; i < images.size(); i++) {
            MemorySegment.copy(((InputImage.Tensor) images.get(i)).data(), 0, stacked, i * bytesEach, bytesEach);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = images.size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        Tensor host = buffer.view(0, first.dtype(), shape);
        if (onCpu) {
            return host;
        }
        try (host) {
            return host.toAsync(settings.device());
        }
    }

    /**
     * The outputs, with every one that shares memory with {@code input} (a model returning {@code x} or
     * {@code x.view(...)}) replaced by a copy. A stacked tensor input is a view of the instance's staging buffer, which
     * the next batch overwrites, while outputs live on until the responses are sent.
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

    /**
     * Runs the module: a CPU model's on a shared compute thread (the time it waits for one counts as compute), a
     * CUDA model's here.
     */
    private List<Tensor> forward(Tensor input, boolean pictures, List<Job> batch) {
        if (onCpu) {
            return compute.run(settings.intraOpThreads(), () -> counters.countingForward(() -> forwardHere(input,
                    pictures, batch)));
        }
        return counters.countingForward(() -> forwardHere(input, pictures, batch));
    }

    private List<Tensor> forwardHere(Tensor input, boolean pictures, List<Job> batch) {
        try {
            return module.forward(input);
        } catch (NativeException e) {
            // A raw tensor the model rejects is the caller's mistake; a preprocessed picture it rejects is ours.
            throw translate(e, !pictures, batch);
        }
    }

    private InferenceException translate(NativeException e, boolean callersInput, List<Job> batch) {
        if (e.kind() == NativeException.Kind.OUT_OF_MEMORY) {
            // The batch's size tells the operator what to lower (max_batch_size, preferred sizes); the model keeps
            // serving, and a smaller batch (the one-by-one rerun) may fit.
            int images = batch.stream().mapToInt(job -> job.request().images().size()).sum();
            return new InferenceException(InferenceException.Reason.OUT_OF_MEMORY, "model " + settings.modelName()
                    + " ran out of memory on a batch of " + images + (images == 1 ? " image" : " images") + " ("
                    + batch.size() + (batch.size() == 1 ? " request" : " requests") + "): " + e.getMessage(), e);
        }
        if (callersInput && (e.kind() == NativeException.Kind.INVALID_ARGUMENT
                || e.kind() == NativeException.Kind.TORCH)) {
            return new InferenceException(InferenceException.Reason.INVALID_INPUT, e.getMessage(), e);
        }
        return new InferenceException(InferenceException.Reason.MODEL_ERROR,
                "model " + settings.modelName() + " failed: " + e.getMessage(), e);
    }
}
