package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.torch.DType;
import dev.fovea.torch.ImageInput;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Batch formation, drops, capacity and close, with fake instances in place of libtorch. */
class BatchSchedulerTest {

    /** Long enough that a test waiting for it would hit the class time limit; the tests never wait for it. */
    private static final long ONE_MINUTE = TimeUnit.MINUTES.toNanos(1);

    /**
     * Records the batches it is given and completes every job with empty predictions. Holds its first batch until
     * {@link #release} opens, so a test can fill the queue while the only worker is busy.
     */
    private static final class FakeInstance implements BatchScheduler.BatchExecutor {
        final BlockingQueue<List<Job>> batches = new LinkedBlockingQueue<>();
        final CountDownLatch holding = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void start() {}

        @Override
        public void stop() {}

        @Override
        public void run(List<Job> batch) {
            batches.add(batch);
            holding.countDown();
            boolean interrupted = false;
            try {
                release.await();
            } catch (InterruptedException e) {
                interrupted = true;
            }
            for (Job job : batch) {
                job.request().memory().close();
                job.result().complete(new Predictions(List.of(), null));
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        List<Integer> nextBatchSizes() throws InterruptedException {
            List<Integer> sizes = new ArrayList<>();
            for (Job job : batches.take()) {
                sizes.add(job.images());
            }
            return sizes;
        }
    }

    private final FakeInstance instance = new FakeInstance();
    private BatchScheduler scheduler;
    private int maxBatch;

    @AfterEach
    void stop() {
        instance.release.countDown();
        scheduler.close(TimeUnit.SECONDS.toMillis(30));
    }

    private BatchScheduler scheduler(int capacity, int maxBatch, Batching batching) {
        this.maxBatch = maxBatch;
        scheduler = new BatchScheduler("fake", capacity, maxBatch, batching, List.of(instance));
        return scheduler;
    }

    private static InferenceRequest request(int images, long deadlineNanos, BooleanSupplier cancelled) {
        Arena memory = Arena.ofShared();
        InputImage picture = new InputImage.Picture(new ImageInput.Encoded(memory.allocate(8)));
        return new InferenceRequest(Collections.nCopies(images, picture), 1, false, deadlineNanos,
                cancelled, System.nanoTime(), memory);
    }

    private static InferenceRequest live(int images) {
        return request(images, InferenceRequest.NO_DEADLINE, () -> false);
    }

    /** Takes the only worker: it holds this full batch until the test releases it. */
    private void occupyTheWorker() throws InterruptedException {
        scheduler.submit(live(maxBatch));
        instance.holding.await();
        instance.batches.take();
    }

    private static InferenceException.Reason failure(Job job) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> job.result().get(30, TimeUnit.SECONDS));
        return ((InferenceException) e.getCause()).reason();
    }

    @Test
    void requestsQueuedBehindABusyWorkerShareTheNextBatch() throws Exception {
        scheduler(64, 8, Batching.dynamic(ONE_MINUTE, 6));
        occupyTheWorker();
        for (int images : new int[] {1, 2, 3}) {
            scheduler.submit(live(images));
        }
        instance.release.countDown();
        assertEquals(List.of(1, 2, 3), instance.nextBatchSizes(), "one batch of the preferred size, in queue order");
    }

    @Test
    void aBatchWaitsWithinTheDelayUntilItReachesAPreferredSize() throws Exception {
        scheduler(64, 8, Batching.dynamic(ONE_MINUTE, 2));
        instance.release.countDown();
        Job first = scheduler.submit(live(1));
        while (scheduler.queueDepth() > 0) {
            Thread.sleep(1); // until the worker has taken the first request
        }
        assertFalse(first.result().isDone(), "one image is neither preferred nor the maximum: the worker waits");
        scheduler.submit(live(1));
        assertEquals(List.of(1, 1), instance.nextBatchSizes(), "the second request joined the waiting batch");
    }

    @Test
    void aBatchThatDoesNotFillRunsOnceTheDelayHasPassed() throws Exception {
        scheduler(64, 8, Batching.dynamic(TimeUnit.MILLISECONDS.toNanos(1)));
        instance.release.countDown();
        Job alone = scheduler.submit(live(1));
        alone.result().get(30, TimeUnit.SECONDS);
        assertEquals(List.of(1), instance.nextBatchSizes());
    }

    @Test
    void batchesStopBeforeTheMaximumSizeAndKeepTheRestForTheNext() throws Exception {
        scheduler(64, 4, Batching.dynamic(ONE_MINUTE));
        occupyTheWorker();
        for (int images : new int[] {2, 1, 2, 4}) {
            scheduler.submit(live(images));
        }
        instance.release.countDown();
        assertEquals(List.of(2, 1), instance.nextBatchSizes(), "2 + 1 + 2 would pass the maximum of 4");
        assertEquals(List.of(2), instance.nextBatchSizes(), "2 + 4 would too");
        assertEquals(List.of(4), instance.nextBatchSizes());
    }

    @Test
    void withoutDynamicBatchingEveryRequestIsABatchOfItsOwn() throws Exception {
        scheduler(64, 8, Batching.OFF);
        occupyTheWorker();
        scheduler.submit(live(1));
        scheduler.submit(live(1));
        instance.release.countDown();
        assertEquals(List.of(1), instance.nextBatchSizes());
        assertEquals(List.of(1), instance.nextBatchSizes());
    }

    @Test
    void expiredAndCancelledRequestsNeverReachTheInstanceAndAreFreed() throws Exception {
        scheduler(64, 8, Batching.dynamic(ONE_MINUTE, 2));
        occupyTheWorker();
        InferenceRequest expired = request(1, System.nanoTime() - 1, () -> false);
        Job expiredJob = scheduler.submit(expired);
        InferenceRequest cancelled = request(1, InferenceRequest.NO_DEADLINE, () -> true);
        Job cancelledJob = scheduler.submit(cancelled);
        Job first = scheduler.submit(live(1));
        Job second = scheduler.submit(live(1));
        instance.release.countDown();
        List<Job> batch = instance.batches.take();
        assertEquals(List.of(first, second), batch, "only the live requests ran");
        assertEquals(InferenceException.Reason.DEADLINE_EXCEEDED, failure(expiredJob));
        assertEquals(InferenceException.Reason.CANCELLED, failure(cancelledJob));
        assertFalse(expired.memory().scope().isAlive());
        assertFalse(cancelled.memory().scope().isAlive());
    }

    @Test
    void anIdleWorkerFailsADeadRequestWithoutWaitingForMoreWork() {
        scheduler(64, 8, Batching.dynamic(ONE_MINUTE));
        instance.release.countDown();
        InferenceRequest cancelled = request(1, InferenceRequest.NO_DEADLINE, () -> true);
        assertEquals(InferenceException.Reason.CANCELLED, failure(scheduler.submit(cancelled)));
        assertFalse(cancelled.memory().scope().isAlive());
        assertTrue(instance.batches.isEmpty());
    }

    @Test
    void aRequestCancelledWhileItsBatchWaitsToFillIsDroppedBeforeTheBatchRuns() throws Exception {
        scheduler(64, 8, Batching.dynamic(ONE_MINUTE, 2));
        instance.release.countDown();
        AtomicBoolean gone = new AtomicBoolean();
        InferenceRequest leaving = request(1, InferenceRequest.NO_DEADLINE, gone::get);
        Job leavingJob = scheduler.submit(leaving);
        while (scheduler.queueDepth() > 0) {
            Thread.sleep(1); // until the worker has taken it and waits for a second request
        }
        gone.set(true);
        Job staying = scheduler.submit(live(1));
        assertEquals(List.of(staying), instance.batches.take());
        assertEquals(InferenceException.Reason.CANCELLED, failure(leavingJob));
        assertFalse(leaving.memory().scope().isAlive());
    }

    @Test
    void aFullQueueRefusesAndFreesTheNextRequest() throws Exception {
        scheduler(2, 8, Batching.OFF);
        occupyTheWorker();
        scheduler.submit(live(1));
        scheduler.submit(live(1));
        InferenceRequest third = live(1);
        assertEquals(InferenceException.Reason.QUEUE_FULL, failure(scheduler.submit(third)));
        assertFalse(third.memory().scope().isAlive());
    }

    @Test
    void expiredAndCancelledRequestsDoNotHoldQueueSlots() throws Exception {
        scheduler(2, 8, Batching.OFF);
        occupyTheWorker();
        InferenceRequest expired = request(1, System.nanoTime() - 1, () -> false);
        Job expiredJob = scheduler.submit(expired);
        InferenceRequest cancelled = request(1, InferenceRequest.NO_DEADLINE, () -> true);
        Job cancelledJob = scheduler.submit(cancelled);
        assertEquals(2, scheduler.queueDepth(), "the dead requests fill the queue while the worker is busy");

        Job live = scheduler.submit(live(1));

        assertFalse(live.result().isDone(), "accepted, not refused as QUEUE_FULL");
        assertEquals(InferenceException.Reason.DEADLINE_EXCEEDED, failure(expiredJob),
                "dropped at once, without waiting for the busy worker");
        assertEquals(InferenceException.Reason.CANCELLED, failure(cancelledJob));
        assertFalse(expired.memory().scope().isAlive());
        assertFalse(cancelled.memory().scope().isAlive());
        assertEquals(1, scheduler.queueDepth(), "only the live request is queued");
        instance.release.countDown();
        live.result().get(30, TimeUnit.SECONDS).close();
        assertEquals(List.of(live), instance.batches.take());
    }

    @Test
    void aMismatchedOrOversizedRequestIsRefusedWithoutTakingASlot() {
        scheduler(1, 2, Batching.OFF);
        instance.release.countDown();
        Arena memory = Arena.ofShared();
        InferenceRequest mixed = new InferenceRequest(List.of(
                new InputImage.Picture(new ImageInput.Encoded(memory.allocate(8))),
                new InputImage.Tensor(DType.FLOAT32, new long[] {2}, memory.allocate(8))),
                1, false, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
        assertEquals(InferenceException.Reason.INVALID_INPUT, failure(scheduler.submit(mixed)));
        assertFalse(memory.scope().isAlive());
        InferenceRequest three = live(3);
        assertEquals(InferenceException.Reason.INVALID_INPUT, failure(scheduler.submit(three)));
        assertFalse(three.memory().scope().isAlive());
    }

    @Test
    void closeRunsWhatIsQueuedThenRefusesNewRequests() throws Exception {
        scheduler(64, 8, Batching.OFF);
        occupyTheWorker();
        List<Job> queued = List.of(scheduler.submit(live(1)), scheduler.submit(live(1)));
        instance.release.countDown();
        scheduler.close(TimeUnit.MINUTES.toMillis(1));
        for (Job job : queued) {
            assertTrue(job.result().isDone() && !job.result().isCompletedExceptionally(), "queued requests ran");
        }
        InferenceRequest late = live(1);
        assertEquals(InferenceException.Reason.UNAVAILABLE, failure(scheduler.submit(late)));
        assertFalse(late.memory().scope().isAlive());
    }

    @Test
    void closeFailsWhatIsStillQueuedWhenTheWaitRunsOut() throws Exception {
        scheduler(64, 8, Batching.OFF);
        occupyTheWorker();
        InferenceRequest queued = live(1);
        Job job = scheduler.submit(queued);
        scheduler.close(0);
        assertEquals(InferenceException.Reason.UNAVAILABLE, failure(job));
        assertFalse(queued.memory().scope().isAlive());
        assertEquals(0, scheduler.queueDepth());
    }

    @Test
    void everyInstanceTakesBatchesFromTheOneQueue() throws Exception {
        FakeInstance other = new FakeInstance();
        scheduler = new BatchScheduler("fake", 64, 8, Batching.OFF, List.of(instance, other));
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            results.add(scheduler.submit(live(1)).result());
        }
        instance.holding.await();
        other.holding.await();
        assertEquals(1, instance.batches.size(), "each instance holds one batch at once");
        assertEquals(1, other.batches.size());
        other.release.countDown();
        instance.release.countDown();
        for (CompletableFuture<Predictions> result : results) {
            result.get(30, TimeUnit.SECONDS).close();
        }
    }
}
