package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** One module serves forwards from many threads at once, each getting its own correct result. */
class ConcurrentForwardTest {

    private static final int THREADS = 8;
    private static final int CALLS_PER_THREAD = 25;

    @Test
    void eightThreadsShareOneModule() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try (Arena arena = Arena.ofShared();
                TorchModule module = TorchModule.load(Fixtures.path("tiny_vit.pt"), Device.CPU)) {
            // Half the threads run batch 1, half batch 4, so a mixed-up result would show as a wrong shape or value.
            Tensor single = Tensor.wrap(Fixtures.loadFloats("tiny_vit.input_b1.bin", arena), DType.FLOAT32,
                    Fixtures.shape("tiny_vit.input_b1.bin"));
            Tensor four = Tensor.wrap(Fixtures.loadFloats("tiny_vit.input_b4.bin", arena), DType.FLOAT32,
                    Fixtures.shape("tiny_vit.input_b4.bin"));
            float[] expectedSingle = Fixtures.floats("tiny_vit.output_b1.bin");
            float[] expectedFour = Fixtures.floats("tiny_vit.output_b4.bin");
            CyclicBarrier start = new CyclicBarrier(THREADS);
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                boolean batchOfFour = t % 2 == 1;
                results.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < CALLS_PER_THREAD; i++) {
                        try (Tensor output = module.forward(batchOfFour ? four : single).getFirst()) {
                            assertArrayEquals(batchOfFour ? expectedFour : expectedSingle,
                                    output.data().toArray(JAVA_FLOAT), 1e-5f);
                        }
                    }
                    return CALLS_PER_THREAD;
                }));
            }
            int total = 0;
            for (Future<Integer> result : results) {
                total += result.get();
            }
            assertEquals(THREADS * CALLS_PER_THREAD, total);
            single.close();
            four.close();
        } finally {
            pool.shutdownNow();
        }
    }
}
