package dev.fovea.server.metrics;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The executor that answers scrapes of the metrics endpoint: one thread, started by a scrape and gone after
 * {@link #IDLE_SECONDS} without one. The exporter's default pool keeps ten core threads forever, one more after each
 * of the first ten scrapes, each with its own malloc arena and stack. A scrape is rare and cheap; when the queue is
 * full the HTTP server's dispatcher thread answers it itself, which slows accepting instead of growing anything.
 */
public final class ScrapeExecutor {

    static final int IDLE_SECONDS = 30;
    private static final int QUEUED_SCRAPES = 16;

    private ScrapeExecutor() {}

    /** A new executor; the HTTP server that is given it shuts it down when it closes. */
    public static ExecutorService create() {
        ThreadPoolExecutor executor = new ThreadPoolExecutor(1, 1, IDLE_SECONDS, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(QUEUED_SCRAPES),
                task -> Thread.ofPlatform().name("fovea-metrics").daemon().unstarted(task),
                new ThreadPoolExecutor.CallerRunsPolicy());
        executor.allowCoreThreadTimeOut(true);
        return executor;
    }
}
