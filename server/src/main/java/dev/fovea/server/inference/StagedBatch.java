package dev.fovea.server.inference;

import dev.fovea.torch.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * One batch between the stages of a {@link ModelInstance}: its jobs, in queue order, and the model input staged for
 * them, waiting for forward or in it. The input is a copy (a preprocessed picture tensor, or the stacked raw tensors):
 * it never views a request's memory, so a job dropped after staging can be ended while the batch goes on.
 *
 * <p>Ownership: owns the input tensor and the scratch memory it may view, which {@link #close} frees. A scratch
 * arena must be shared: the batch is staged on the instance's thread and closed on its postprocess thread. The
 * jobs' request memory is not the batch's: whoever ends a job frees it (see {@link Job}).
 */
final class StagedBatch implements AutoCloseable {

    private final List<Job> jobs;
    private final Arena scratch;
    private final Tensor input;
    private final boolean pictures;
    private final int images;
    private final long startNanos;
    private final long stagedNanos;
    /** Jobs ended early, by index. Touched on the instance thread, then (after a hand-off) the postprocess thread. */
    private final BitSet dropped = new BitSet();
    /** When forward returned; written on the thread that ran it, read after the hand-off that follows. */
    private long forwardedNanos;
    /** The batch's number among its model's batches, given as it enters forward. */
    private long batchId;

    /**
     * Takes ownership of {@code input} and {@code scratch} (null when the input views no scratch memory).
     *
     * @param startNanos when staging began; a request's queue time ends there
     */
    StagedBatch(List<Job> jobs, Arena scratch, Tensor input, boolean pictures, long startNanos) {
        this.jobs = List.copyOf(jobs);
        this.scratch = scratch;
        this.input = input;
        this.pictures = pictures;
        this.startNanos = startNanos;
        this.stagedNanos = System.nanoTime();
        int count = 0;
        for (Job job : jobs) {
            count += job.images();
        }
        this.images = count;
    }

    Tensor input() {
        return input;
    }

    /** Whether the input came from pictures (a model rejecting it is then the server's fault, not the caller's). */
    boolean pictures() {
        return pictures;
    }

    /** Rows of the input: the images of every job, the dropped ones included. */
    int images() {
        return images;
    }

    long startNanos() {
        return startNanos;
    }

    long stagedNanos() {
        return stagedNanos;
    }

    void numbered(long batchId) {
        this.batchId = batchId;
    }

    long batchId() {
        return batchId;
    }

    void forwarded() {
        forwardedNanos = System.nanoTime();
    }

    long forwardedNanos() {
        return forwardedNanos;
    }

    /**
     * Ends the jobs no one waits for any more (deadline passed, caller gone) at once, freeing their memory, and
     * returns whether any job is left to run. Their rows stay in the input and are computed, but never answered.
     */
    boolean dropDead(String modelName) {
        long now = System.nanoTime();
        for (int i = 0; i < jobs.size(); i++) {
            InferenceException why = dropped.get(i) ? null : jobs.get(i).deathAt(now, modelName);
            if (why != null) {
                dropped.set(i);
                jobs.get(i).fail(why);
            }
        }
        return dropped.cardinality() < jobs.size();
    }

    /** Every job, in batch order; {@link #live(int)} says which still wait for an answer. */
    List<Job> jobs() {
        return jobs;
    }

    boolean live(int index) {
        return !dropped.get(index);
    }

    /** The most classes a live job wants. */
    int topK() {
        return liveJobs().stream().mapToInt(job -> job.request().topK()).max().orElse(0);
    }

    /** Whether a live job wants the raw output tensors. */
    boolean rawOutputs() {
        return liveJobs().stream().anyMatch(job -> job.request().includeOutputs());
    }

    /** The jobs still waiting for an answer, in batch order. */
    List<Job> liveJobs() {
        List<Job> live = new ArrayList<>(jobs.size());
        for (int i = 0; i < jobs.size(); i++) {
            if (!dropped.get(i)) {
                live.add(jobs.get(i));
            }
        }
        return live;
    }

    /** Frees the input and its scratch memory. Safe to call twice. */
    @Override
    public void close() {
        input.close();
        if (scratch != null && scratch.scope().isAlive()) {
            scratch.close();
        }
    }
}
