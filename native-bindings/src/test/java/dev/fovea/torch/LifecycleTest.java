package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        try (TorchModule module = TorchModule.load(Fixtures.path("scale_uint8.pt"), Device.CPU);
                Arena arena = Arena.ofConfined()) {
            // 64 MiB of float output per forward, never closed: without the Cleaner 4 GiB would pile up.
            MemorySegment pixels = arena.allocate(1L * 2048 * 2048 * 4);
            try (Tensor input = Tensor.wrap(pixels, DType.UINT8, 1, 2048, 2048, 4)) {
                long before = Rss.currentBytes();
                for (int i = 0; i < 64; i++) {
                    module.forward(input);
                    if (i % 8 == 7) {
                        System.gc();
                        Thread.sleep(20);
                    }
                }
                System.gc();
                Thread.sleep(100);
                long grown = Rss.currentBytes() - before;
                assertTrue(grown < 1024L * 1024 * 1024, "RSS grew by " + grown / (1024 * 1024) + " MiB");
            }
        }
    }
}
