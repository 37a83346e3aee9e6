package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One execution context of a model: its device and the model's shared module, and a pipeline of three stages per
 * batch, so that while batch N is in forward, batch N+1 is staged and batch N-1 is postprocessed:
 * <ol>
 *   <li><b>stage</b>, on this instance's worker thread (see {@link BatchScheduler}): take the next batch and make
 *       the model's input from it ({@link Staging}: decode and preprocess pictures or stack raw tensors; a CUDA
 *       instance's pinned copy and host-to-device copy on its own stream).
 *   <li><b>forward</b>, on the shared {@link CpuCompute} threads for a CPU model, on the instance's device thread for
 *       a CUDA one.
 *   <li><b>postprocess</b>, on the instance's postprocess thread: outputs to the host, predictions, the callers'
 *       futures completed; never on a compute thread.
 * </ol>
 * A failed batch of several requests is rerun one request at a time, all three stages on the thread that found the
 * failure (the worker for staging, the postprocess thread for forward and postprocess), so that a bad input fails
 * only its own request; native failures become {@link InferenceException}s ({@link InferenceException#fromNative}).
 * Reruns may run beside the next batch's forward (one more forward of this instance for a while).
 *
 * <p>Bounds ({@link ForwardGate}): one batch in forward, at most one staged ahead, at most one waiting for the
 * postprocess thread beside the one it runs. A staged batch whose requests died before its forward starts loses them
 * then, and runs no forward at all if none is left.
 *
 * <p>Threads: picture decoding and preprocessing stay on the worker so that large pictures sent to one model never
 * hold a compute thread other models wait for. The postprocess and (CUDA) device threads are made in {@link #start}
 * and stopped in {@link #stop}, which returns once every batch this instance took has ended.
 *
 * <p>Ownership: the module belongs to {@link ModelRunner}. The instance owns its {@link DeviceStaging} (its stream,
 * made current on each of its threads, and the staging buffers reused from batch to batch), made in {@link #start}
 * and freed in {@link #stop}. What a batch allocates (its input tensor, stacking scratch) is a {@link StagedBatch},
 * freed before the batch's callers hear back.
 */
final class ModelInstance implements BatchScheduler.BatchExecutor {

    private static final Logger log = Logger.getLogger(ModelInstance.class.getName());

    /** Runs the module on a batch's input; {@link TorchModule#forward} outside tests. */
    @FunctionalInterface
    interface Forward {
        List<Tensor> run(TorchModule module, Tensor input);
    }

    private final TorchModule module;
    private final ModelRunner.Settings settings;
    private final CpuCompute compute;
    private final ModelRunner.Observer observer;
    private final BatchCounters counters;
    private final Staging staging;
    private final Forward forward;
    private final DeviceHealth health;
    private final boolean onCpu;
    private final ForwardGate gate = new ForwardGate(this::startForward);
    /** Made in {@link #start}. */
    private DeviceStaging device;
    /** Made in {@link #start}. */
    private ExecutorService postprocessThread;
    /** A CUDA instance's forward thread, made in {@link #start}; null for a CPU instance. */
    private ExecutorService deviceThread;

    ModelInstance(TorchModule module, ModelRunner.Settings settings, CpuCompute compute,
            ModelRunner.Observer observer, BatchCounters counters, Staging.Preprocess preprocess, Forward forward,
            DeviceHealth health) {
        this.module = Objects.requireNonNull(module, "module");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.compute = Objects.requireNonNull(compute, "compute");
        this.observer = Objects.requireNonNull(observer, "observer");
        this.counters = Objects.requireNonNull(counters, "counters");
        this.staging = new Staging(settings, preprocess);
        this.forward = Objects.requireNonNull(forward, "forward");
        this.health = Objects.requireNonNull(health, "health");
        this.onCpu = settings.device().equals(Device.CPU);
    }

    /**
     * With OpenMP, libtorch's thread count is per calling thread. A CUDA instance's device thread takes the model's
     * count. A CPU instance stages on one thread: with more, this thread would start an OpenMP team of its own, and
     * the process would hold more teams than {@link CpuCompute} has threads (see there why that is slow). The
     * postprocess thread runs no parallel work either way.
     */
    @Override
    public void start() {
        String name = Thread.currentThread().getName();
        device = DeviceStaging.open(settings.device(), observer);
        if (onCpu) {
            TorchRuntime.setIntraOpThreads(1);
        } else {
            if (settings.intraOpThreads() > 0) {
                TorchRuntime.setIntraOpThreads(settings.intraOpThreads());
            }
            deviceThread = oneThread(name + "-device", settings.intraOpThreads());
        }
        postprocessThread = oneThread(name + "-postprocess", 1);
    }

    /** A thread that runs with the instance's stream current, so its device work queues there. */
    private ExecutorService oneThread(String name, int intraOpThreads) {
        return Executors.newSingleThreadExecutor(task -> Thread.ofPlatform().name(name).daemon().unstarted(() -> {
            if (intraOpThreads > 0) {
                TorchRuntime.setIntraOpThreads(intraOpThreads);
            }
            device.makeCurrent();
            task.run();
        }));
    }

    /**
     * Called once on the worker's thread after its last batch: waits until every batch this instance took has ended
     * (a forward is waited for, not interrupted: its memory is freed after it), then stops the instance's threads.
     */
    @Override
    public void stop() {
        gate.awaitIdle();
        postprocessThread.shutdown();
        if (deviceThread != null) {
            deviceThread.shutdown();
        }
        device.close();
    }

    /** A job's result: its predictions, or why it failed. */
    private record Outcome(Predictions predictions, InferenceException failure) {
        void close() {
            if (predictions != null) {
                predictions.close();
            }
        }
    }

    /**
     * Stages {@code batch} and hands it to forward through the {@link ForwardGate}: returns once it has entered forward
     * (or ended), usually before its forward is done, so the worker stages the next one meanwhile, never more than one
     * ahead.
     */
    @Override
    public void run(List<Job> batch) {
        StagedBatch staged;
        try {
            staged = staging.stage(batch, device);
        } catch (InferenceException e) {
            List<Outcome> outcomes;
            try {
                outcomes = rerunAlone(batch, e);
            } catch (RuntimeException | Error unexpected) {
                outcomes = unexpected(batch, unexpected);
            }
            end(batch, outcomes);
            return;
        } catch (RuntimeException | Error e) {
            end(batch, unexpected(batch, e));
            return;
        }
        gate.enter(staged);
    }

    /**
     * Drops the batch's dead jobs and starts its forward; returns false, the batch ended, if no job was left or
     * forward could not start.
     */
    private boolean startForward(StagedBatch staged) {
        if (!staged.dropDead(settings.modelName())) {
            staged.close();
            return false;
        }
        CompletableFuture<List<Tensor>> outputs;
        try {
            outputs = forwardAsync(staged);
        } catch (RuntimeException e) {
            staged.close();
            List<Job> live = staged.liveJobs();
            end(live, unexpected(live, e));
            return false;
        }
        outputs.whenComplete((tensors, failure) -> forwarded(staged, tensors, failure));
        return true;
    }

    /** On the thread that ran forward: starts the pending batch, then hands this one to the postprocess thread. */
    private void forwarded(StagedBatch staged, List<Tensor> outputs, Throwable failure) {
        gate.forwardEnded();
        postprocessThread.execute(() -> finish(staged, outputs, failure));
    }

    /**
     * On the postprocess thread: frees the batch's input, makes every live job's predictions, ends the jobs and
     * starts the pending batch if it waited for this thread.
     */
    private void finish(StagedBatch staged, List<Tensor> outputs, Throwable failure) {
        List<Job> live = staged.liveJobs();
        List<Outcome> outcomes;
        try {
            if (failure != null) {
                health.afterFailedBatch(device, settings);
                outcomes = rerunAlone(live, cause(failure));
            } else {
                List<Tensor> owned;
                try {
                    owned = Staging.ownedOutputs(outputs, staged.input());
                } finally {
                    staged.close();
                }
                outcomes = postprocessOrRerun(staged, owned, live);
            }
        } catch (RuntimeException | Error e) {
            outcomes = unexpected(live, e);
        } finally {
            staged.close();
        }
        end(live, outcomes);
        gate.postprocessEnded();
    }

    private List<Outcome> postprocessOrRerun(StagedBatch staged, List<Tensor> outputs, List<Job> live) {
        try {
            List<Outcome> outcomes = new ArrayList<>(live.size());
            for (Predictions predictions : postprocess(staged, outputs)) {
                outcomes.add(new Outcome(predictions, null));
            }
            return outcomes;
        } catch (InferenceException e) {
            health.afterFailedBatch(device, settings);
            return rerunAlone(live, e);
        }
    }


    /** The forward failure a future carries, unwrapped. */
    private static InferenceException cause(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        if (cause instanceof InferenceException e) {
            return e;
        }
        if (cause instanceof RuntimeException e) {
            throw e;
        }
        if (cause instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(cause);
    }

    /** After {@code failure} of a batch of {@code jobs}: the outcome of each job run alone, or the failure itself. */
    private List<Outcome> rerunAlone(List<Job> jobs, InferenceException failure) {
        List<Outcome> outcomes = new ArrayList<>(jobs.size());
        if (jobs.size() == 1) {
            outcomes.add(new Outcome(null, failure));
            return outcomes;
        }
        // One bad image must not fail the other callers' requests that shared its batch: run each alone.
        try {
            for (Job job : jobs) {
                outcomes.add(runAlone(job));
            }
        } catch (RuntimeException | Error e) {
            outcomes.forEach(Outcome::close);
            throw e;
        }
        return outcomes;
    }

    /** All three stages for one job, on this thread (waiting for its forward). */
    private Outcome runAlone(Job job) {
        try (StagedBatch staged = staging.stage(List.of(job), device)) {
            List<Tensor> outputs = Staging.ownedOutputs(await(forwardAsync(staged)), staged.input());
            return new Outcome(postprocess(staged, outputs).getFirst(), null);
        } catch (InferenceException e) {
            return new Outcome(null, e);
        }
    }

    private List<Outcome> unexpected(List<Job> jobs, Throwable e) {
        log.log(Level.SEVERE, "model " + settings.modelName() + " failed unexpectedly", e);
        InferenceException failure = new InferenceException(InferenceException.Reason.MODEL_ERROR,
                "model " + settings.modelName() + " failed: " + e, e);
        List<Outcome> outcomes = new ArrayList<>(jobs.size());
        jobs.forEach(job -> outcomes.add(new Outcome(null, failure)));
        return outcomes;
    }

    /**
     * Ends every job with its outcome. Frees their memory first: predictions view output memory, never request
     * memory, and a caller that hears back never races a free.
     */
    private static void end(List<Job> jobs, List<Outcome> outcomes) {
        for (Job job : jobs) {
            job.request().memory().close();
        }
        for (int i = 0; i < jobs.size(); i++) {
            Outcome outcome = outcomes.get(i);
            if (outcome.failure() != null) {
                jobs.get(i).result().completeExceptionally(outcome.failure());
            } else {
                jobs.get(i).result().complete(outcome.predictions());
            }
        }
    }

    /** One result per live job of {@code staged}, in order; takes {@code outputs}. */
    private List<Predictions> postprocess(StagedBatch staged, List<Tensor> outputs) {
        long start = staged.startNanos();
        long stagingNanos = staged.stagedNanos() - start;
        // The wait for the forward slot and for a compute thread count as compute.
        long inference = staged.forwardedNanos() - staged.stagedNanos();
        Postprocessor made;
        try {
            made = new Postprocessor(outputs, staged.images(), staged.topK(), staged.rawOutputs(), settings, device);
        } catch (NativeException e) {
            throw InferenceException.fromNative(e, false, settings.modelName(), staged.liveJobs());
        }
        try (Postprocessor postprocessor = made) {
            List<Predictions> results = new ArrayList<>(staged.jobs().size());
            int offset = 0;
            observer.batchRan(staged.images(), stagingNanos, inference);
            try {
                for (int i = 0; i < staged.jobs().size(); i++) {
                    InferenceRequest request = staged.jobs().get(i).request();
                    if (staged.live(i)) {
                        long postprocessStart = System.nanoTime();
                        results.add(postprocessor.predictions(request, offset, new Postprocessor.Batch(
                                staged.batchId(), start, staged.stagedNanos(), staged.forwardedNanos())));
                        observer.requestRan(start - request.arrivalNanos(), System.nanoTime() - postprocessStart);
                    }
                    offset += request.images().size();
                }
            } catch (RuntimeException e) {
                results.forEach(Predictions::close);
                throw e;
            }
            return results;
        }
    }

    /**
     * Starts the module on {@code staged}'s input: a CPU model's on a shared compute thread, a CUDA model's on this
     * instance's device thread. The future completes on that thread.
     */
    private CompletableFuture<List<Tensor>> forwardAsync(StagedBatch staged) {
        staged.numbered(counters.batchStarted());
        Supplier<List<Tensor>> work = () -> {
            List<Tensor> outputs = counters.countingForward(() -> forwardHere(staged));
            staged.forwarded();
            return outputs;
        };
        return onCpu ? compute.submit(settings.intraOpThreads(), work)
                : CompletableFuture.supplyAsync(work, deviceThread);
    }

    /**
     * The future's value. Waits even when interrupted, since the work uses memory the caller frees afterwards; the
     * interrupt is kept for the caller.
     */
    private static <T> T await(CompletableFuture<T> future) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return future.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException runtime) {
                        throw runtime;
                    }
                    if (e.getCause() instanceof Error error) {
                        throw error;
                    }
                    throw new IllegalStateException(e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private List<Tensor> forwardHere(StagedBatch staged) {
        try {
            return forward.run(module, staged.input());
        } catch (NativeException e) {
            // A raw tensor the model rejects is the caller's mistake; a preprocessed picture it rejects is ours.
            throw InferenceException.fromNative(e, !staged.pictures(), settings.modelName(), staged.liveJobs());
        }
    }
}
