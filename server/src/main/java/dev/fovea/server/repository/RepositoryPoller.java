package dev.fovea.server.repository;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code --model-control-mode poll}: rescans the repository folder every interval ({@link ModelRepository#rescan}),
 * one rescan at a time: the next starts an interval after the last one ended, however long its loads took.
 */
public final class RepositoryPoller implements AutoCloseable {

    private static final Logger log = Logger.getLogger(RepositoryPoller.class.getName());

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            task -> Thread.ofPlatform().name("fovea-repository-poll").daemon().unstarted(task));

    private RepositoryPoller(ModelRepository repository, long intervalSeconds) {
        timer.scheduleWithFixedDelay(() -> {
            try {
                repository.rescan().join();
            } catch (RuntimeException e) {
                // An unreadable folder now may be readable at the next rescan; the poller goes on.
                log.log(Level.WARNING, "rescanning the model repository failed: " + e.getMessage());
            }
        }, intervalSeconds, intervalSeconds, TimeUnit.SECONDS);
    }

    /** Rescans {@code repository} every {@code intervalSeconds} (>= 1) until closed. */
    public static RepositoryPoller start(ModelRepository repository, long intervalSeconds) {
        if (intervalSeconds < 1) {
            throw new IllegalArgumentException("intervalSeconds must be >= 1, got " + intervalSeconds);
        }
        return new RepositoryPoller(repository, intervalSeconds);
    }

    /** Stops polling; a rescan that is running finishes on the repository's thread. */
    @Override
    public void close() {
        timer.shutdownNow();
    }
}
