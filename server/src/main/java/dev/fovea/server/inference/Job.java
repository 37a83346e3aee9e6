package dev.fovea.server.inference;

import java.util.concurrent.CompletableFuture;

/**
 * A queued request and the future its caller waits on. Whoever ends a job (runs it, drops it or refuses it) closes
 * the request's memory before completing the future, so a caller that hears back never races a free.
 */
record Job(InferenceRequest request, CompletableFuture<Predictions> result) {

    Job(InferenceRequest request) {
        this(request, new CompletableFuture<>());
    }

    int images() {
        return request.images().size();
    }

    /** Frees the request's memory, then fails the caller's future. */
    void fail(InferenceException why) {
        request.memory().close();
        result.completeExceptionally(why);
    }

    /**
     * Why no one waits for this job any more at {@code nowNanos} (its deadline passed or its caller cancelled), or
     * null while someone does.
     */
    InferenceException deathAt(long nowNanos, String modelName) {
        // Deadline first: a call whose deadline passed also reads as cancelled.
        if (request.expired(nowNanos)) {
            return new InferenceException(InferenceException.Reason.DEADLINE_EXCEEDED, "the deadline passed after "
                    + (nowNanos - request.arrivalNanos()) / 1000 + " µs in the queue of model " + modelName
                    + "; the request was not run");
        }
        if (request.cancelled().getAsBoolean()) {
            return new InferenceException(InferenceException.Reason.CANCELLED, "the caller cancelled the request");
        }
        return null;
    }
}
