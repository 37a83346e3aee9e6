package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Closing is harmless to repeat, and anything used after close throws instead of touching freed memory. */
class LifecycleTest {

    private static final String INPUT = "tiny_cnn.input_b1.bin";

    @Test
    void closingTwiceIsHarmless() {
        TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
        module.close();
        module.close();
        assertTrue(module.isClosed());
        try (Arena arena = Arena.ofConfined()) {
            Tensor tensor = Tensor.wrap(arena.allocate(16), DType.FLOAT32, 4);
            tensor.close();
            tensor.close();
            assertTrue(tensor.isClosed());
        }
    }

    @Test
    void forwardOnClosedModuleThrows() {
        TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
        module.close();
        try (Arena arena = Arena.ofConfined();
                Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT))) {
            assertThrows(IllegalStateException.class, () -> module.forward(input));
        }
    }

    @Test
    void closedInputTensorIsRejected() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU)) {
            Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT));
            input.close();
            assertThrows(IllegalStateException.class, () -> module.forward(input));
            assertThrows(IllegalStateException.class, input::data);
            assertThrows(IllegalStateException.class, () -> input.to(Device.CPU));
        }
    }

    @Test
    void dataSegmentOfAClosedTensorThrowsOnAccess() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
                Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT))) {
            Tensor output = module.forward(input).getFirst();
            MemorySegment logits = output.data();
            output.close();
            assertThrows(IllegalStateException.class, () -> logits.get(JAVA_FLOAT, 0));
        }
    }

    @Test
    void viewOfMemoryWhoseArenaClosedIsRejected() {
        try (TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU)) {
            Arena arena = Arena.ofConfined();
            Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT));
            arena.close();
            assertThrows(IllegalStateException.class, () -> module.forward(input));
            input.close();
        }
    }

    @Test
    void closeDuringForwardsWaitsForThemToFinish() throws Exception {
        int threads = 4;
        TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
        float[] expected = Fixtures.floats("tiny_cnn.output_b1.bin");
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (Arena arena = Arena.ofShared();
                Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT))) {
            CountDownLatch started = new CountDownLatch(threads);
            List<Future<Integer>> results = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                results.add(pool.submit(() -> {
                    started.countDown();
                    int completed = 0;
                    while (true) {
                        List<Tensor> outputs;
                        try {
                            outputs = module.forward(input);
                        } catch (IllegalStateException closed) {
                            return completed;
                        }
                        try (Tensor output = outputs.getFirst()) {
                            assertArrayEquals(expected, output.data().toArray(JAVA_FLOAT), 1e-5f);
                        }
                        completed++;
                    }
                }));
            }
            started.await();
            Thread.sleep(50);
            module.close();
            for (Future<Integer> result : results) {
                assertTrue(result.get() >= 0);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void forgottenTensorsAreFreedByTheCleaner() throws Exception {
        assumeTrue(MallocHeap.available(), "the C library has no mallinfo2");
        int forwards = 32;
        try (TorchModule module = TorchModule.load(Fixtures.path("scale_uint8.pt"), Device.CPU);
                Arena arena = Arena.ofConfined()) {
            // 4 MiB of float output per forward, never closed: 128 MiB that only the Cleaner can free.
            MemorySegment pixels = arena.allocate(1L * 512 * 512 * 4);
            try (Tensor input = Tensor.wrap(pixels, DType.UINT8, 1, 512, 512, 4)) {
                long before = MallocHeap.bytesInUse();
                for (int i = 0; i < forwards; i++) {
                    module.forward(input);
                }
                long forgotten = MallocHeap.bytesInUse() - before;
                // The Cleaner runs on its own thread after a collection: poll, a bounded number of times (a hang
                // guard: on a busy machine it takes a few more rounds, never a different result).
                long left = forgotten;
                for (int poll = 0; poll < 500 && left > 16L << 20; poll++) {
                    System.gc();
                    Thread.sleep(10);
                    left = MallocHeap.bytesInUse() - before;
                }
                assertTrue(left < 16L << 20, (left >> 20) + " MiB of " + (forgotten >> 20) + " MiB still held");
            }
        }
    }
}
