package dev.fovea.server.grpc;

import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import io.grpc.Status;
import java.util.Locale;

/**
 * Counts finished requests (a call, or one stream frame) for the metrics and statistics of both APIs, under the
 * model's name or {@code unknown} for names not in the repository, so callers cannot grow the label set.
 */
final class Outcomes {

    private final ModelRepository repository;
    private final ServerMetrics metrics;

    Outcomes(ModelRepository repository, ServerMetrics metrics) {
        this.repository = repository;
        this.metrics = metrics;
    }

    /** A request that arrived at {@code startNanos} ({@link System#nanoTime()}) ended with {@code status}. */
    void finished(String model, Status status, long startNanos) {
        record(model, status.isOk() ? "ok" : status.getCode().name().toLowerCase(Locale.ROOT), startNanos);
    }

    /** A latest-only stream frame that a newer one replaced. */
    void skipped(String model) {
        record(model, "skipped", System.nanoTime());
    }

    private void record(String model, String outcome, long startNanos) {
        metrics.requestFinished(repository.describe(model).isPresent() ? model : "unknown", outcome,
                System.nanoTime() - startNanos);
    }
}
