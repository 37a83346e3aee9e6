package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fovea.server.TestServer;
import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.TorchModule;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A model whose only instance is held in preprocessing, as by huge pictures to decode: other models keep the one
 * shared compute thread (only forward needs it), and its own queue still takes live requests.
 */
class BusyModelTest {

    private final CpuCompute compute = new CpuCompute(1);
    private final CountDownLatch preprocessing = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);
    private final List<ModelRunner> runners = new ArrayList<>();

    @AfterEach
    void stop() {
        release.countDown();
        runners.forEach(ModelRunner::close);
        compute.close();
    }

    /** The test fixture CNN, whose preprocessing waits for {@link #release} once it has started. */
    private ModelRunner stuckInPreprocessing(int queueCapacity) {
        ModelRunner.Settings settings = new ModelRunner.Settings("cnn", Device.CPU, Preprocessing.imagenet(36, 32),
                true, List.of(), 0, queueCapacity, 8, 1, Batching.OFF);
        ModelRunner runner = new ModelRunner(load("cnn"), settings, compute, ModelRunner.Observer.NONE,
                (pictures, spec, device) -> {
                    preprocessing.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return Preprocessor.toTensor(pictures, spec, device);
                }, TorchModule::forward);
        runners.add(runner);
        return runner;
    }

    private ModelRunner raw() {
        ModelRunner runner = new ModelRunner(load("raw"), new ModelRunner.Settings("raw", Device.CPU,
                new Preprocessing(0, 4, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY), false, List.of(), 0,
                4, 4, 1, Batching.OFF), compute, ModelRunner.Observer.NONE);
        runners.add(runner);
        return runner;
    }

    private static TorchModule load(String model) {
        return TorchModule.load(TestServer.repositoryPath().resolve(model + "/model.pt"), Device.CPU);
    }

    private static InferenceRequest picture(long deadlineNanos, boolean cancelled) {
        Arena memory = Arena.ofShared();
        MemorySegment pixels = memory.allocate(32 * 32 * 3).fill((byte) 100);
        return new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Pixels(pixels, 32, 32, 96,
                PixelFormat.RGB))), 3, false, deadlineNanos, () -> cancelled, System.nanoTime(), memory);
    }

    private static InferenceRequest tensor() {
        Arena memory = Arena.ofShared();
        MemorySegment values = memory.allocateFrom(ValueLayout.JAVA_FLOAT, 1f, 2f, 3f, 4f);
        return new InferenceRequest(List.of(new InputImage.Tensor(DType.FLOAT32, new long[] {4}, values)), 1, true,
                InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
    }

    private static InferenceException.Reason failure(CompletableFuture<Predictions> result) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> result.get(60, TimeUnit.SECONDS));
        return ((InferenceException) e.getCause()).reason();
    }

    @Test
    void aModelStuckInPreprocessingLeavesTheSharedComputeThreadToOthers() throws Exception {
        ModelRunner stuck = stuckInPreprocessing(4);
        ModelRunner other = raw();
        CompletableFuture<Predictions> held = stuck.submit(picture(InferenceRequest.NO_DEADLINE, false));
        preprocessing.await();

        try (Predictions predictions = other.submit(tensor()).get(60, TimeUnit.SECONDS)) {
            assertEquals(1, predictions.size(), "ran on the one compute thread while the other model preprocessed");
        }
        assertFalse(held.isDone());
        release.countDown();
        try (Predictions predictions = held.get(60, TimeUnit.SECONDS)) {
            assertEquals(3, predictions.first().classes().size());
        }
    }

    @Test
    void aBusyModelWithAQueueFullOfAbandonedRequestsStillAcceptsALiveOne() throws Exception {
        ModelRunner stuck = stuckInPreprocessing(2);
        CompletableFuture<Predictions> held = stuck.submit(picture(InferenceRequest.NO_DEADLINE, false));
        preprocessing.await();
        InferenceRequest expired = picture(System.nanoTime() - 1, false);
        CompletableFuture<Predictions> expiredResult = stuck.submit(expired);
        InferenceRequest cancelled = picture(InferenceRequest.NO_DEADLINE, true);
        CompletableFuture<Predictions> cancelledResult = stuck.submit(cancelled);

        CompletableFuture<Predictions> live = stuck.submit(picture(InferenceRequest.NO_DEADLINE, false));

        assertFalse(live.isDone(), "accepted, not refused as RESOURCE_EXHAUSTED");
        assertEquals(InferenceException.Reason.DEADLINE_EXCEEDED, failure(expiredResult));
        assertEquals(InferenceException.Reason.CANCELLED, failure(cancelledResult));
        assertFalse(expired.memory().scope().isAlive());
        assertFalse(cancelled.memory().scope().isAlive());
        release.countDown();
        held.get(60, TimeUnit.SECONDS).close();
        try (Predictions predictions = live.get(60, TimeUnit.SECONDS)) {
            assertEquals(3, predictions.first().classes().size(), "the live request was queued and ran");
        }
        assertEquals(2, stuck.batchesRun());
    }
}
