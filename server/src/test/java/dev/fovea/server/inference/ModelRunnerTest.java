package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.TorchModule;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The runner drops what no one waits for before computing, refuses what does not fit, and frees every request. */
class ModelRunnerTest {

    private final CpuCompute compute = new CpuCompute(1);
    private ModelRunner runner;

    @BeforeEach
    void start() {
        TorchModule module = TorchModule.load(TestServer.repositoryPath().resolve("raw/model.pt"), Device.CPU);
        runner = new ModelRunner(module, new ModelRunner.Settings("raw", Device.CPU,
                new Preprocessing(0, 4, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY),
                false, List.of(), 0, 2, 4, 1, Batching.OFF), compute, ModelRunner.Observer.NONE);
    }

    @AfterEach
    void stop() {
        runner.close();
        compute.close();
    }

    private static InferenceRequest request(Arena memory, long deadlineNanos, boolean cancelled) {
        MemorySegment values = memory.allocateFrom(ValueLayout.JAVA_FLOAT, 1f, 2f, 3f, 4f);
        return new InferenceRequest(List.of(new InputImage.Tensor(DType.FLOAT32, new long[] {4}, values)), 1, true,
                deadlineNanos, () -> cancelled, System.nanoTime(), memory);
    }

    private static InferenceException.Reason failure(CompletableFuture<Predictions> result) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> result.get(10, TimeUnit.SECONDS));
        return ((InferenceException) e.getCause()).reason();
    }

    @Test
    void runsARequestAndFreesItsMemory() throws Exception {
        Arena memory = Arena.ofShared();
        try (Predictions predictions = runner.submit(request(memory, InferenceRequest.NO_DEADLINE, false))
                .get(10, TimeUnit.SECONDS)) {
            assertEquals(1, predictions.size());
            assertEquals(2, predictions.first().outputs().size());
        }
        assertEquals(1, runner.batchesRun());
        assertTrue(!memory.scope().isAlive(), "the runner closed the request's arena");
    }

    @Test
    void outputViewsStayReadableUntilThePredictionsAreClosed() throws Exception {
        Predictions predictions = runner.submit(request(Arena.ofShared(), InferenceRequest.NO_DEADLINE, false))
                .get(10, TimeUnit.SECONDS);
        MemorySegment doubled = predictions.first().outputs().getFirst().data();
        assertEquals(8f, doubled.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 12), "readable after the batch has run");
        assertTrue(doubled.isReadOnly());
        predictions.close();
        assertThrows(IllegalStateException.class, () -> doubled.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0),
                "closing freed the output tensor; a stale view throws instead of reading freed memory");
        predictions.close();
    }

    @Test
    void outputsThatAliasTheInputOutliveTheBatch() throws Exception {
        TorchModule identity = TorchModule.load(
                TestServer.repositoryPath().resolveSibling("models").resolve("identity.pt"), Device.CPU);
        // Over malloc's mmap threshold, so a view of the freed input would fault instead of reading stale bytes.
        int count = 256 * 1024;
        Arena memory = Arena.ofShared();
        MemorySegment values = memory.allocate(ValueLayout.JAVA_FLOAT, count);
        for (int i = 0; i < count; i++) {
            values.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
        }
        try (ModelRunner echo = new ModelRunner(identity, new ModelRunner.Settings("identity", Device.CPU,
                new Preprocessing(0, 4, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY), false, List.of(), 0, 2,
                4, 1, Batching.OFF), compute, ModelRunner.Observer.NONE);
                Predictions predictions = echo.submit(new InferenceRequest(List.of(new InputImage.Tensor(
                        DType.FLOAT32, new long[] {count}, values)), 1, true, InferenceRequest.NO_DEADLINE,
                        () -> false, System.nanoTime(), memory)).get(10, TimeUnit.SECONDS)) {
            assertTrue(!memory.scope().isAlive(), "the request's memory is freed");
            MemorySegment echoed = predictions.first().outputs().getFirst().data();
            for (int i = 0; i < count; i += 997) {
                assertEquals(i, echoed.getAtIndex(ValueLayout.JAVA_FLOAT, i), 0f);
            }
        }
    }

    @Test
    void cancelledRequestIsDroppedBeforeCompute() {
        Arena memory = Arena.ofShared();
        assertEquals(InferenceException.Reason.CANCELLED,
                failure(runner.submit(request(memory, InferenceRequest.NO_DEADLINE, true))));
        assertEquals(0, runner.batchesRun());
        assertTrue(!memory.scope().isAlive());
    }

    @Test
    void expiredRequestIsDroppedBeforeCompute() {
        Arena memory = Arena.ofShared();
        assertEquals(InferenceException.Reason.DEADLINE_EXCEEDED,
                failure(runner.submit(request(memory, System.nanoTime() - 1, false))));
        assertEquals(0, runner.batchesRun());
    }

    @Test
    void tooManyImagesAreRefusedAndFreed() {
        Arena memory = Arena.ofShared();
        MemorySegment values = memory.allocate(16);
        InputImage.Tensor tensor = new InputImage.Tensor(DType.FLOAT32, new long[] {4}, values);
        InferenceRequest five = new InferenceRequest(List.of(tensor, tensor, tensor, tensor, tensor), 1, false,
                InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
        assertEquals(InferenceException.Reason.INVALID_INPUT, failure(runner.submit(five)));
        assertTrue(!memory.scope().isAlive());
    }

    @Test
    void closedRunnerRefusesNewRequests() {
        runner.close();
        Arena memory = Arena.ofShared();
        assertEquals(InferenceException.Reason.UNAVAILABLE,
                failure(runner.submit(request(memory, InferenceRequest.NO_DEADLINE, false))));
        assertTrue(!memory.scope().isAlive());
    }
}
