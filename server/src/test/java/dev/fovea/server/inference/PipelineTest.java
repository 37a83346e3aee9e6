package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.TorchModule;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-instance pipeline, on one instance of the fixture CNN whose stages the test holds with latches: the first
 * batch's postprocess, the second batch's forward and the third batch's staging are under way at the same time, no
 * fourth batch is staged meanwhile, and every request ends exactly once with its memory freed once.
 */
class PipelineTest {

    /** A wide guard for each wait; the stages are released by the test, never by time. */
    private static final long WAIT_SECONDS = 60;

    /** Request memory that counts its closes; a second close would throw as a real arena's does. */
    private static final class CountingArena implements Arena {
        private final Arena arena = Arena.ofShared();
        final AtomicInteger closes = new AtomicInteger();

        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            return arena.allocate(byteSize, byteAlignment);
        }

        @Override
        public MemorySegment.Scope scope() {
            return arena.scope();
        }

        @Override
        public void close() {
            closes.incrementAndGet();
            arena.close();
        }
    }

    private final CpuCompute compute = new CpuCompute(1);
    private final AtomicInteger staged = new AtomicInteger();
    private final AtomicInteger forwards = new AtomicInteger();
    private final AtomicInteger postprocessed = new AtomicInteger();
    private final CountDownLatch firstInPostprocess = new CountDownLatch(1);
    private final CountDownLatch releasePostprocess = new CountDownLatch(1);
    private final CountDownLatch secondInForward = new CountDownLatch(1);
    private final CountDownLatch releaseForward = new CountDownLatch(1);
    private final CountDownLatch thirdStaged = new CountDownLatch(1);
    private final List<CountingArena> memories = new ArrayList<>();
    private ModelRunner runner;

    @BeforeEach
    void start() {
        ModelRunner.Settings settings = new ModelRunner.Settings("cnn", Device.CPU, Preprocessing.imagenet(36, 32),
                true, List.of(), 0, 8, 8, 1, Batching.OFF);
        ModelRunner.Observer observer = new ModelRunner.Observer() {
            @Override
            public void batchRan(int images, long preprocessNanos, long computeNanos) {
                // Called at the start of each batch's postprocess, on the postprocess thread.
                if (postprocessed.incrementAndGet() == 1) {
                    firstInPostprocess.countDown();
                    await(releasePostprocess);
                }
            }

            @Override
            public void requestRan(long queueNanos, long postprocessNanos) {}

            @Override
            public void stagingBufferUsed(boolean reused) {}
        };
        runner = new ModelRunner(TorchModule.load(TestServer.repositoryPath().resolve("cnn/model.pt"), Device.CPU),
                settings, compute, observer, (pictures, spec, device) -> {
                    if (staged.incrementAndGet() == 3) {
                        thirdStaged.countDown();
                    }
                    return Preprocessor.toTensor(pictures, spec, device);
                }, (module, input) -> {
                    if (forwards.incrementAndGet() == 2) {
                        secondInForward.countDown();
                        await(releaseForward);
                    }
                    return module.forward(input);
                });
    }

    @AfterEach
    void stop() {
        releasePostprocess.countDown();
        releaseForward.countDown();
        runner.close();
        compute.close();
    }

    private static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(WAIT_SECONDS, TimeUnit.SECONDS), "a stage did not start");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private CompletableFuture<Predictions> submit(AtomicBoolean cancelled) {
        CountingArena memory = new CountingArena();
        memories.add(memory);
        MemorySegment pixels = memory.allocate(32 * 32 * 3).fill((byte) 100);
        return runner.submit(new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Pixels(pixels, 32, 32,
                96, PixelFormat.RGB))), 3, false, InferenceRequest.NO_DEADLINE, cancelled::get, System.nanoTime(),
                memory));
    }

    /** Submits three requests and waits until the first is in postprocess, the second in forward, the third staged. */
    private List<CompletableFuture<Predictions>> fillThePipeline(AtomicBoolean thirdCancelled) {
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        results.add(submit(new AtomicBoolean()));
        results.add(submit(new AtomicBoolean()));
        results.add(submit(thirdCancelled));
        await(firstInPostprocess);
        await(secondInForward);
        await(thirdStaged);
        return results;
    }

    private void assertEachMemoryClosedOnce() {
        for (CountingArena memory : memories) {
            assertEquals(1, memory.closes.get(), "each request's memory is closed exactly once");
        }
    }

    @Test
    void theNextBatchIsStagedAndThePreviousPostprocessedWhileOneIsInForward() throws Exception {
        List<CompletableFuture<Predictions>> results = fillThePipeline(new AtomicBoolean());
        for (CompletableFuture<Predictions> result : results) {
            assertFalse(result.isDone());
        }
        // The worker holds the third batch staged until the second leaves forward: a fourth request stays queued.
        results.add(submit(new AtomicBoolean()));
        assertEquals(1, runner.queueDepth(), "at most one batch is staged ahead");
        assertEquals(3, staged.get());
        assertEquals(2, forwards.get());

        releasePostprocess.countDown();
        releaseForward.countDown();
        for (CompletableFuture<Predictions> result : results) {
            try (Predictions predictions = result.get(WAIT_SECONDS, TimeUnit.SECONDS)) {
                assertEquals(3, predictions.first().classes().size());
            }
        }
        assertEquals(4, runner.batchesRun());
        assertEquals(4, postprocessed.get());
        assertEachMemoryClosedOnce();
    }

    @Test
    void aStagedBatchWhoseCallerLeftBeforeForwardIsDropped() throws Exception {
        AtomicBoolean thirdCancelled = new AtomicBoolean();
        List<CompletableFuture<Predictions>> results = fillThePipeline(thirdCancelled);
        thirdCancelled.set(true);
        releasePostprocess.countDown();
        releaseForward.countDown();
        results.get(0).get(WAIT_SECONDS, TimeUnit.SECONDS).close();
        results.get(1).get(WAIT_SECONDS, TimeUnit.SECONDS).close();
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> results.get(2).get(WAIT_SECONDS, TimeUnit.SECONDS));
        assertEquals(InferenceException.Reason.CANCELLED, ((InferenceException) e.getCause()).reason());
        runner.close();
        assertEquals(2, forwards.get(), "the dropped batch never reached forward");
        assertEquals(2, runner.batchesRun());
        assertEachMemoryClosedOnce();
    }

    @Test
    void closeDrainsTheStagedAndQueuedBatches() throws Exception {
        List<CompletableFuture<Predictions>> results = fillThePipeline(new AtomicBoolean());
        results.add(submit(new AtomicBoolean()));
        Thread closing = Thread.ofPlatform().start(() -> runner.close(TimeUnit.SECONDS.toMillis(WAIT_SECONDS)));
        releasePostprocess.countDown();
        releaseForward.countDown();
        closing.join();
        for (CompletableFuture<Predictions> result : results) {
            assertTrue(result.isDone(), "close returned after every batch ended");
            result.get().close();
        }
        assertEquals(4, postprocessed.get());
        assertEachMemoryClosedOnce();
    }
}
