package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** A wrapped segment is the tensor's storage: libtorch reads the caller's bytes in place, never a copy. */
class ZeroCopyTest {

    @Test
    void wrappedTensorDataIsTheCallersMemory() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pixels = arena.allocate(2 * 4 * 3);
            try (Tensor tensor = Tensor.wrap(pixels, DType.UINT8, 2, 4, 3)) {
                assertEquals(pixels.address(), tensor.data().address());
                assertEquals(pixels.byteSize(), tensor.data().byteSize());
            }
        }
    }

    @Test
    void writingTheSegmentChangesTheNextOutput() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("scale_uint8.pt"), Device.CPU)) {
            MemorySegment pixels = arena.allocate(1 * 2 * 2 * 3); // uint8 NHWC
            try (Tensor frame = Tensor.wrap(pixels, DType.UINT8, 1, 2, 2, 3)) {
                pixels.fill((byte) 51);
                float[] first = onlyOutput(module, frame);
                assertArrayEquals(filled(12, 0.2f), first, 1e-6f);

                pixels.set(JAVA_BYTE, 0, (byte) 255); // pixel (0,0), red
                float[] second = onlyOutput(module, frame);
                float[] expected = filled(12, 0.2f);
                expected[0] = 1.0f; // NCHW: channel 0, row 0, column 0
                assertArrayEquals(expected, second, 1e-6f);
            }
        }
    }

    @Test
    void floatModelSeesInPlaceEdits() {
        String input = "tiny_cnn.input_b1.bin";
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU)) {
            MemorySegment images = Fixtures.loadFloats(input, arena);
            try (Tensor tensor = Tensor.wrap(images, DType.FLOAT32, Fixtures.shape(input))) {
                float[] before = onlyOutput(module, tensor);
                images.fill((byte) 0);
                float[] after = onlyOutput(module, tensor);
                assertFalse(Arrays.equals(before, after), "output did not change after the input bytes did");
                assertArrayEquals(Fixtures.floats("tiny_cnn.output_b1.bin"), before, 1e-5f);
            }
        }
    }

    private static float[] onlyOutput(TorchModule module, Tensor input) {
        var outputs = module.forward(input);
        assertEquals(1, outputs.size());
        try (Tensor output = outputs.getFirst()) {
            return output.data().toArray(JAVA_FLOAT);
        }
    }

    private static float[] filled(int length, float value) {
        float[] values = new float[length];
        Arrays.fill(values, value);
        return values;
    }
}
