package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.TorchModule;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Dynamic batching and model instances, on the runner alone. */
class BatchingTest {

    private static final Preprocessing GRAY_1X4 =
            new Preprocessing(0, 4, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY);

    private ModelRunner runner;
    /** Closed after each test, so the output views the tests read stay valid until then. */
    private final List<Predictions> received = new ArrayList<>();

    @AfterEach
    void stop() {
        received.forEach(Predictions::close);
        runner.close();
        compute.close();
    }

    /** Two compute threads, so two instances can run at once. */
    private final CpuCompute compute = new CpuCompute(2);

    private ModelRunner runner(String model, Preprocessing preprocessing, boolean classifier, int maxBatch,
            int instances, Batching batching) {
        TorchModule module = TorchModule.load(TestServer.repositoryPath().resolve(model + "/model.pt"), Device.CPU);
        return new ModelRunner(module, new ModelRunner.Settings(model, Device.CPU, preprocessing, classifier,
                List.of(), 0, 64, maxBatch, instances, batching), compute, ModelRunner.Observer.NONE);
    }

    private static InferenceRequest tensor(float... values) {
        Arena memory = Arena.ofShared();
        MemorySegment data = memory.allocateFrom(ValueLayout.JAVA_FLOAT, values);
        return new InferenceRequest(List.of(new InputImage.Tensor(DType.FLOAT32, new long[] {values.length}, data)),
                1, true, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
    }

    private List<Prediction> get(CompletableFuture<Predictions> result)
            throws ExecutionException, InterruptedException, TimeoutException {
        Predictions predictions = result.get(20, TimeUnit.SECONDS);
        received.add(predictions);
        return predictions.list();
    }

    @Test
    void requestsArrivingWithinTheDelayShareOneBatch() throws Exception {
        runner = runner("raw", GRAY_1X4, false, 8, 1, Batching.dynamic(TimeUnit.MILLISECONDS.toNanos(500)));
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            results.add(runner.submit(tensor(i, i, i, i)));
        }
        for (int i = 0; i < 3; i++) {
            Prediction prediction = get(results.get(i)).getFirst();
            assertEquals(3, prediction.timings().batchSize());
            float sum = prediction.outputs().get(1).data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0);
            assertEquals(4f * i, sum, "request " + i + " got its own row of the batch");
        }
        assertEquals(1, runner.batchesRun());
    }

    @Test
    void withoutDynamicBatchingEveryRequestRunsAlone() throws Exception {
        runner = runner("raw", GRAY_1X4, false, 8, 1, Batching.OFF);
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            results.add(runner.submit(tensor(1, 2, 3, 4)));
        }
        for (CompletableFuture<Predictions> result : results) {
            assertEquals(1, get(result).getFirst().timings().batchSize());
        }
        assertEquals(3, runner.batchesRun());
    }

    @Test
    void aPreferredSizeRunsWithoutWaitingForTheDelay() throws Exception {
        // A minute's delay: the test's 20-second wait would time out if the batch waited for it.
        runner = runner("raw", GRAY_1X4, false, 8, 1, Batching.dynamic(TimeUnit.MINUTES.toNanos(1), 2));
        CompletableFuture<Predictions> first = runner.submit(tensor(1, 1, 1, 1));
        CompletableFuture<Predictions> second = runner.submit(tensor(2, 2, 2, 2));
        assertEquals(2, get(first).getFirst().timings().batchSize());
        assertEquals(2, get(second).getFirst().timings().batchSize());
    }

    @Test
    void batchesNeverExceedTheMaximumSize() throws Exception {
        runner = runner("raw", GRAY_1X4, false, 4, 1, Batching.dynamic(TimeUnit.MILLISECONDS.toNanos(300)));
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            results.add(runner.submit(tensor(i, 0, 0, 0)));
        }
        List<Integer> sizes = new ArrayList<>();
        for (CompletableFuture<Predictions> result : results) {
            sizes.add(get(result).getFirst().timings().batchSize());
        }
        assertEquals(List.of(4, 4, 4, 4, 1), sizes);
    }

    @Test
    void tensorsOfDifferentShapesRunInSeparateBatches() throws Exception {
        runner = runner("raw", GRAY_1X4, false, 8, 1, Batching.dynamic(TimeUnit.MILLISECONDS.toNanos(200)));
        CompletableFuture<Predictions> four = runner.submit(tensor(1, 1, 1, 1));
        CompletableFuture<Predictions> two = runner.submit(tensor(5, 5));
        assertEquals(1, get(four).getFirst().timings().batchSize());
        assertEquals(List.of(2L), java.util.Arrays.stream(get(two).getFirst().outputs().getFirst().shape())
                .boxed().toList());
        assertEquals(2, runner.batchesRun());
    }

    @Test
    void aBadImageFailsOnlyItsOwnRequest() throws Exception {
        runner = runner("cnn", Preprocessing.imagenet(36, 32), true, 8, 1,
                Batching.dynamic(TimeUnit.MILLISECONDS.toNanos(300)));
        Arena goodMemory = Arena.ofShared();
        MemorySegment pixels = goodMemory.allocate(32 * 32 * 3).fill((byte) 100);
        InferenceRequest good = new InferenceRequest(List.of(new InputImage.Picture(
                new ImageInput.Pixels(pixels, 32, 32, 96, PixelFormat.RGB))), 3, false,
                InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), goodMemory);
        Arena badMemory = Arena.ofShared();
        MemorySegment garbage = badMemory.allocate(64).fill((byte) 1);
        InferenceRequest bad = new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Encoded(garbage))),
                3, false, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), badMemory);
        CompletableFuture<Predictions> goodResult = runner.submit(good);
        CompletableFuture<Predictions> badResult = runner.submit(bad);
        assertEquals(3, get(goodResult).getFirst().classes().size());
        ExecutionException e = assertThrows(ExecutionException.class, () -> get(badResult));
        assertEquals(InferenceException.Reason.INVALID_INPUT, ((InferenceException) e.getCause()).reason());
    }

    private void runFourSlowRequests() throws Exception {
        List<CompletableFuture<Predictions>> results = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Arena memory = Arena.ofShared();
            MemorySegment pixels = memory.allocate(16 * 16 * 3);
            results.add(runner.submit(new InferenceRequest(List.of(new InputImage.Picture(
                    new ImageInput.Pixels(pixels, 16, 16, 48, PixelFormat.RGB))), 1, false,
                    InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory)));
        }
        for (CompletableFuture<Predictions> result : results) {
            get(result);
        }
    }

    @Test
    void instancesRunBatchesAtTheSameTime() throws Exception {
        runner = runner("slow", new Preprocessing(0, 16, 16, new float[] {0, 0, 0}, new float[] {1, 1, 1},
                PixelFormat.RGB), true, 8, 2, Batching.OFF);
        runFourSlowRequests();
        assertEquals(2, runner.peakConcurrentBatches(), "two instances, two batches in flight at once");
    }

    @Test
    void cpuBatchesNeverOutnumberTheComputeThreads() throws Exception {
        try (CpuCompute one = new CpuCompute(1)) {
            runner = new ModelRunner(TorchModule.load(TestServer.repositoryPath().resolve("slow/model.pt"),
                    Device.CPU), new ModelRunner.Settings("slow", Device.CPU, new Preprocessing(0, 16, 16,
                            new float[] {0, 0, 0}, new float[] {1, 1, 1}, PixelFormat.RGB), true, List.of(), 0, 64,
                            8, 2, Batching.OFF), one, ModelRunner.Observer.NONE);
            runFourSlowRequests();
            assertEquals(1, runner.peakConcurrentBatches(), "two instances, one compute thread: one batch at a time");
            runner.close();
        }
    }

    @Test
    void requestsThatMixTensorsAndPicturesAreRefused() {
        runner = runner("raw", GRAY_1X4, false, 8, 1, Batching.OFF);
        Arena memory = Arena.ofShared();
        MemorySegment data = memory.allocate(16);
        InferenceRequest mixed = new InferenceRequest(List.of(new InputImage.Tensor(DType.FLOAT32, new long[] {4}, data),
                new InputImage.Picture(new ImageInput.Encoded(data))), 1, false, InferenceRequest.NO_DEADLINE,
                () -> false, System.nanoTime(), memory);
        ExecutionException e = assertThrows(ExecutionException.class, () -> get(runner.submit(mixed)));
        assertTrue(e.getCause().getMessage().contains("must not mix"));
        assertTrue(!memory.scope().isAlive());
    }
}
