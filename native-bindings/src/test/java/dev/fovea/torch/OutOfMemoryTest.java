package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Host memory that runs out inside a forward is OUT_OF_MEMORY, not a generic libtorch error (libtorch's CPU allocator
 * throws a plain c10::Error for it), and the module serves on. {@code CudaTest} does the same on a GPU.
 */
class OutOfMemoryTest {

    @Test
    void aForwardThatCannotAllocateIsOutOfMemoryAndTheModuleServesOn() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("allocates.pt"), Device.CPU);
                // 2^40 floats: 4 TiB.
                Tensor huge = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 1 << 20, 1 << 20), DType.FLOAT32, 1, 2);
                Tensor small = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 2, 3), DType.FLOAT32, 1, 2)) {
            NativeException e = assertThrows(NativeException.class, () -> module.forward(huge));
            assertEquals(NativeException.Kind.OUT_OF_MEMORY, e.kind(), e.getMessage());
            List<Tensor> outputs = module.forward(small);
            try {
                assertArrayEquals(new long[] {1, 2, 3}, outputs.getFirst().shape());
            } finally {
                outputs.forEach(Tensor::close);
            }
        }
    }
}
