package dev.fovea.server.metrics;

import dev.fovea.torch.MallocHeap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Gives memory back to the operating system when the server goes quiet after work: a burst of streams grows the
 * Java heap and leaves free pages in malloc's per-thread arenas, and neither shrinks by itself, so without this the
 * process keeps the resident size of its busiest moment. Every {@code period} it compares a count of finished work
 * with the previous look; once the count has stopped moving (a whole period without work) and has moved since the
 * last reclaim, it collects the Java heap (G1 then uncommits what it does not need) and trims malloc's arenas. Both
 * cost a few milliseconds to a few hundred on an idle process and nothing while it is busy.
 *
 * <p>One daemon thread; {@link #close} stops it.
 */
public final class IdleReclaimer implements AutoCloseable {

    private final LongSupplier work;
    private final Runnable reclaim;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            task -> Thread.ofPlatform().name("fovea-reclaim").daemon().unstarted(task));
    // Only the timer thread touches these.
    private long lastSeen;
    private long lastReclaimed;

    IdleReclaimer(LongSupplier work, Runnable reclaim) {
        this.work = work;
        this.reclaim = reclaim;
        this.lastSeen = work.getAsLong();
        this.lastReclaimed = lastSeen;
    }

    /** Starts watching {@code work}, a count that grows with every request served. */
    public static IdleReclaimer start(LongSupplier work, long period, TimeUnit unit) {
        IdleReclaimer reclaimer = new IdleReclaimer(work, () -> {
            // The collection lets G1 uncommit the heap it no longer needs and frees native memory held by
            // unreachable owners, which the trim can then return.
            System.gc();
            MallocHeap.trim();
        });
        reclaimer.timer.scheduleWithFixedDelay(reclaimer::look, period, period, unit);
        return reclaimer;
    }

    /** One look at the work count; the timer calls it every period. */
    void look() {
        long now = work.getAsLong();
        boolean idle = now == lastSeen;
        lastSeen = now;
        if (idle && now != lastReclaimed) {
            lastReclaimed = now;
            reclaim.run();
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
