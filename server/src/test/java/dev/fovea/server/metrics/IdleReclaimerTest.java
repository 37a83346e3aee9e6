package dev.fovea.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** When the reclaimer gives memory back: once per quiet spell after work, never while work goes on. */
class IdleReclaimerTest {

    private final AtomicLong work = new AtomicLong();
    private final AtomicInteger reclaims = new AtomicInteger();
    private final IdleReclaimer reclaimer = new IdleReclaimer(work::get, reclaims::incrementAndGet);

    @Test
    void anIdleServerThatNeverWorkedIsLeftAlone() {
        reclaimer.look();
        reclaimer.look();
        assertEquals(0, reclaims.get());
    }

    @Test
    void reclaimsOnceAfterAWholePeriodWithoutWorkAndNotWhileBusy() {
        work.addAndGet(5);
        reclaimer.look(); // work since the last look: busy
        assertEquals(0, reclaims.get());
        reclaimer.look(); // a whole period without work
        assertEquals(1, reclaims.get());
        reclaimer.look();
        reclaimer.look(); // still idle: nothing new to give back
        assertEquals(1, reclaims.get());
        work.incrementAndGet();
        reclaimer.look();
        reclaimer.look();
        assertEquals(2, reclaims.get());
    }
}
