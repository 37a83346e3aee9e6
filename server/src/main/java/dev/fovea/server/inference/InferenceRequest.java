package dev.fovea.server.inference;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * Images for one model, with what the caller wants back and when it stops waiting.
 *
 * <p>Ownership: {@code memory} holds the images' native bytes. Whoever builds the request hands it to
 * {@link ModelRunner#submit}, which closes the arena once the request has run or been dropped (also when submit
 * refuses it). The arena must be shared: the runner closes it on one of its instance threads, or on the thread of a
 * later submit that finds it expired or cancelled in a full queue.
 *
 * @param topK the most classes to return per image for a classifier (the model's class count caps it); at least 0
 * @param deadlineNanos a {@link System#nanoTime()} instant after which the request is not run; {@link Long#MAX_VALUE}
 *     for none
 * @param cancelled true once the caller has gone away; checked before the model runs
 */
public record InferenceRequest(
        List<InputImage> images,
        int topK,
        boolean includeOutputs,
        long deadlineNanos,
        BooleanSupplier cancelled,
        long arrivalNanos,
        Arena memory) {

    public static final long NO_DEADLINE = Long.MAX_VALUE;

    public InferenceRequest {
        images = List.copyOf(images);
        Objects.requireNonNull(cancelled, "cancelled");
        Objects.requireNonNull(memory, "memory");
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        }
        if (images.isEmpty()) {
            throw new IllegalArgumentException("a request needs at least one image");
        }
    }

    boolean expired(long nowNanos) {
        return deadlineNanos != NO_DEADLINE && nowNanos - deadlineNanos >= 0;
    }
}
