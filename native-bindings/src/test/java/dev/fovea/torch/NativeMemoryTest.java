package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Load, forward and close in a loop return their native memory: the process does not grow. */
class NativeMemoryTest {

    private static final int WARM_UP_CYCLES = 1_000;
    private static final int CYCLES = 10_000;
    /**
     * A leak of one input view per cycle would add 9,000 x 12 KiB = 105 MiB, of one module far more; allocator
     * caches and the JIT grow RSS by a few MiB at most.
     */
    private static final long MAX_GROWTH_BYTES = 32L * 1024 * 1024;

    @Test
    void tenThousandLoadForwardCloseCyclesDoNotGrowResidentMemory() {
        String input = "tiny_cnn.input_b1.bin";
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment images = Fixtures.loadFloats(input, arena);
            long[] shape = Fixtures.shape(input);
            long afterWarmUp = 0;
            for (int cycle = 0; cycle < CYCLES; cycle++) {
                if (cycle == WARM_UP_CYCLES) {
                    afterWarmUp = Rss.currentBytes();
                }
                try (TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
                        Tensor tensor = Tensor.wrap(images, DType.FLOAT32, shape)) {
                    List<Tensor> outputs = module.forward(tensor);
                    assertEquals(1, outputs.size());
                    outputs.getFirst().close();
                }
            }
            long growth = Rss.currentBytes() - afterWarmUp;
            System.out.printf("NativeMemoryTest: resident memory grew by %d KiB over %d cycles%n", growth / 1024,
                    CYCLES - WARM_UP_CYCLES);
            assertTrue(growth < MAX_GROWTH_BYTES, "resident memory grew by " + growth / 1024 + " KiB over "
                    + (CYCLES - WARM_UP_CYCLES) + " cycles, bound " + MAX_GROWTH_BYTES / 1024 + " KiB");
        }
    }
}
