package dev.fovea.server.inference;

import java.util.Arrays;

/**
 * How a model's requests combine into batches: off (every request alone), or dynamic with a maximum wait for the
 * oldest request and batch sizes worth running at once. Immutable.
 */
public record Batching(boolean dynamic, long maxQueueDelayNanos, int[] preferredSizes) {

    /** Every request runs as a batch of its own. */
    public static final Batching OFF = new Batching(false, 0, new int[0]);

    public Batching {
        if (maxQueueDelayNanos < 0) {
            throw new IllegalArgumentException("maxQueueDelayNanos must not be negative");
        }
        preferredSizes = preferredSizes.clone();
        for (int size : preferredSizes) {
            if (size < 1) {
                throw new IllegalArgumentException("preferred batch sizes must be >= 1: "
                        + Arrays.toString(preferredSizes));
            }
        }
    }

    public static Batching dynamic(long maxQueueDelayNanos, int... preferredSizes) {
        return new Batching(true, maxQueueDelayNanos, preferredSizes);
    }

    @Override
    public int[] preferredSizes() {
        return preferredSizes.clone();
    }

    boolean preferred(int images) {
        for (int size : preferredSizes) {
            if (size == images) {
                return true;
            }
        }
        return false;
    }
}
