package dev.fovea.server.serving;

import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.tracing.RequestTrace;
import dev.fovea.server.tracing.Tracing;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The protocol-neutral middle every API goes through (fovea.v1 gRPC, the Open Inference Protocol over gRPC and over
 * HTTP): it finds the model version a request names, binds the request to its call's deadline and cancellation,
 * submits it, has the protocol build its answer, and counts the outcome, once per request or stream frame, in one
 * place.
 *
 * <p>Ownership of a model version: {@link #acquire} takes a use on the version that will run a request, so that a swap
 * or unload cannot free it between the lookup and the queueing; {@link #submit} gives the use back once the request
 * is queued, and an adapter that refuses the request instead gives it back with {@link ServedModel#release()}.
 *
 * <p>Threads: a submitted request's answer is built on the thread that completes it (the model instance's), and the
 * protocol sends it from there: no hand-off to another executor between the model and the transport. Building an
 * answer is quick (protobuf fields over native memory) and sending never blocks (gRPC and Netty queue the bytes).
 */
public final class Dispatcher {

    /** A NOT_FOUND message lists this many models at most; the repository index has them all. */
    private static final int MODELS_NAMED_IN_NOT_FOUND = 16;

    /** Builds a protocol's answer from a finished request's predictions, which it then owns. */
    @FunctionalInterface
    public interface Answering<T> {
        T answer(Predictions predictions);
    }

    private final ModelRepository repository;
    private final ServerMetrics metrics;
    private final Tracing tracing;

    public Dispatcher(ModelRepository repository, ServerMetrics metrics, Tracing tracing) {
        this.repository = Objects.requireNonNull(repository, "repository");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.tracing = Objects.requireNonNull(tracing, "tracing");
    }

    /**
     * Request tracing: each protocol starts a request's trace ({@link Tracing#start}) where the request arrives, ends
     * it where a refusal is answered, and once its answer is sent; {@link #submit} marks the send's start and ends
     * the trace of a request the model failed.
     */
    public Tracing tracing() {
        return tracing;
    }

    /**
     * The version of {@code name} to run a request on ({@code version}, or the newest that serves when empty), with a
     * use taken on it, or a NOT_FOUND / UNAVAILABLE status exception.
     */
    public ServedModel acquire(String name, String version) {
        return repository.acquire(name, version).orElseThrow(() -> notServing(name, version));
    }

    /** The version of {@code name} to describe ({@code ""}: the newest that serves), or a status exception. */
    public ServedModel model(String name, String version) {
        return repository.find(name, version).orElseThrow(() -> notServing(name, version));
    }

    /** Throws NOT_FOUND unless {@code name} is a model of the repository, in any state. */
    public void requireKnown(String name) {
        if (repository.describe(name).isEmpty()) {
            throw notFound(name).asRuntimeException();
        }
    }

    /** The repository's description of {@code name}, ready or failed, or a NOT_FOUND status exception. */
    public ModelInfo describe(String name) {
        return repository.describe(name).orElseThrow(() -> notFound(name).asRuntimeException());
    }

    /**
     * A request bound to the current call's deadline and cancellation (gRPC's {@link Context}; the HTTP binding runs
     * its requests in a cancellable context of its own).
     */
    public static InferenceRequest request(List<InputImage> images, int topK, boolean includeOutputs, Arena memory) {
        Context context = Context.current();
        Deadline deadline = context.getDeadline();
        long now = System.nanoTime();
        long deadlineNanos = deadline == null ? InferenceRequest.NO_DEADLINE
                : now + deadline.timeRemaining(TimeUnit.NANOSECONDS);
        return new InferenceRequest(images, topK, includeOutputs, deadlineNanos, context::isCancelled, now, memory);
    }

    /**
     * Queues {@code request} on {@code model} and completes with the answer {@code answering} builds from its
     * predictions; fails with a {@link StatusRuntimeException} when the model fails the request or the answer cannot
     * be built (the predictions are closed then). The outcome is counted under the model's name, timed from
     * {@code startNanos}. The model owns {@code request.memory()} from this call on, and the use {@link #acquire}
     * took on it ends here. {@code trace} is the request's: ended here if the request fails, else its send starts
     * before the answer is built.
     */
    public <T> CompletableFuture<T> submit(ServedModel model, InferenceRequest request, long startNanos,
            RequestTrace trace, Answering<T> answering) {
        CompletableFuture<Predictions> result;
        try {
            result = model.runner().submit(request);
        } finally {
            model.release();
        }
        CompletableFuture<T> answer = new CompletableFuture<>();
        result.whenComplete((predictions, failure) -> {
            T built = null;
            if (failure == null) {
                try {
                    trace.sending(predictions);
                    built = answering.answer(predictions);
                } catch (RuntimeException e) {
                    predictions.close();
                    failure = e;
                }
            }
            Status status = failure == null ? Status.OK : Statuses.of(failure);
            finished(model.name(), status, startNanos);
            if (failure == null) {
                answer.complete(built);
            } else {
                trace.end(status);
                answer.completeExceptionally(status.asRuntimeException());
            }
        });
        return answer;
    }

    /**
     * A request that ended before it was queued (refused: bad input, unknown model, full queue) or, for the streams'
     * own bookkeeping, one whose outcome is known without {@link #submit}.
     */
    public void finished(String model, Status status, long startNanos) {
        record(model, status.isOk() ? "ok" : status.getCode().name().toLowerCase(Locale.ROOT), startNanos);
    }

    /** A latest-only stream frame that a newer one replaced. */
    public void skipped(String model) {
        record(model, "skipped", System.nanoTime());
    }

    /** Counted under the model's name, or {@code unknown} for names not in the repository: no client grows labels. */
    private void record(String model, String outcome, long startNanos) {
        metrics.requestFinished(repository.describe(model).isPresent() ? model : "unknown", outcome,
                System.nanoTime() - startNanos);
    }

    private RuntimeException notServing(String name, String version) {
        return repository.describe(name)
                .map(info -> info.getStatus() == ModelStatus.MODEL_STATUS_READY
                        ? Status.NOT_FOUND.withDescription("model " + ClientText.quote(name) + " has no version "
                                + ClientText.quote(version) + " (versions: " + String.join(", ", info.getVersionsList())
                                + ")")
                        : Status.UNAVAILABLE.withDescription("model " + ClientText.quote(name) + " is not serving: "
                                + info.getStatusMessage()))
                .orElseGet(() -> notFound(name))
                .asRuntimeException();
    }

    private Status notFound(String name) {
        List<String> known = repository.describeAll().stream().map(ModelInfo::getName).toList();
        String listed = known.isEmpty() ? "none"
                : String.join(", ", known.subList(0, Math.min(known.size(), MODELS_NAMED_IN_NOT_FOUND)))
                        + (known.size() > MODELS_NAMED_IN_NOT_FOUND
                                ? " and " + (known.size() - MODELS_NAMED_IN_NOT_FOUND) + " more" : "");
        return Status.NOT_FOUND.withDescription("model " + ClientText.quote(name) + " is not in the repository "
                + "(models: " + listed + ")");
    }
}
