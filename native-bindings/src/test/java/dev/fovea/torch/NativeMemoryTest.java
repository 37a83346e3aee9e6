package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Load, forward and close in a loop return their native memory. Measured on malloc's own counters rather than the
 * resident set size, and with an output of a MiB per cycle, so a hundred and fifty cycles show a leak: RSS needed ten
 * thousand cycles of a tiny model to rise above its noise, two minutes on an idle two-core machine.
 */
class NativeMemoryTest {

    private static final int WARM_UP_CYCLES = 20;
    private static final int CYCLES = 150;
    /** 256 x 256 RGBA bytes in, 1 MiB of float out: a leaked output adds 150 MiB over {@link #CYCLES}. */
    private static final long[] PIXELS_SHAPE = {1, 256, 256, 4};
    /**
     * A module left loaded holds about 170 KiB of malloc'd graph and weights, so leaking one per cycle adds about
     * 25 MiB. The JVM's own malloc use (JIT arenas, symbols) moves the count by a few MiB either way.
     */
    private static final long MAX_GROWTH_BYTES = 12L * 1024 * 1024;

    @Test
    void aHundredAndFiftyLoadForwardCloseCyclesReturnEveryMallocdByte() {
        assumeTrue(MallocHeap.available(), "the C library has no mallinfo2");
        String input = "tiny_cnn.input_b1.bin";
        try (Arena arena = Arena.ofConfined();
                TorchModule scale = TorchModule.load(Fixtures.path("scale_uint8.pt"), Device.CPU)) {
            MemorySegment images = Fixtures.loadFloats(input, arena);
            long[] shape = Fixtures.shape(input);
            MemorySegment pixels = arena.allocate(PIXELS_SHAPE[1] * PIXELS_SHAPE[2] * PIXELS_SHAPE[3]);
            long afterWarmUp = 0;
            for (int cycle = 0; cycle < WARM_UP_CYCLES + CYCLES; cycle++) {
                if (cycle == WARM_UP_CYCLES) {
                    afterWarmUp = MallocHeap.bytesInUse();
                }
                try (TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
                        Tensor tensor = Tensor.wrap(images, DType.FLOAT32, shape);
                        Tensor picture = Tensor.wrap(pixels, DType.UINT8, PIXELS_SHAPE)) {
                    List<Tensor> outputs = module.forward(tensor);
                    assertEquals(1, outputs.size());
                    outputs.getFirst().close();
                    scale.forward(picture).forEach(Tensor::close);
                }
            }
            long growth = MallocHeap.bytesInUse() - afterWarmUp;
            System.out.printf("NativeMemoryTest: malloc'd bytes in use grew by %d KiB over %d cycles%n",
                    growth / 1024, CYCLES);
            assertTrue(growth < MAX_GROWTH_BYTES, "malloc'd bytes in use grew by " + growth / 1024 + " KiB over "
                    + CYCLES + " cycles, bound " + MAX_GROWTH_BYTES / 1024 + " KiB");
        }
    }
}
