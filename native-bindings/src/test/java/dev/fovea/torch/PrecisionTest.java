package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Modules converted to FP16, BF16 and channels-last memory at load, on the CPU. */
class PrecisionTest {

    private static final String INPUT = "tiny_cnn.input_b4.bin";

    @Test
    void float16ModuleCastsItsInputAndReturnsFloat16() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("nested_outputs.pt"), Device.CPU)) {
            module.convert(DType.FLOAT16, false);
            // nested_outputs returns x * 2 first: an op the CPU has in half precision.
            try (Tensor input = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 1.5f, -2f, 0.25f, 3f), DType.FLOAT32,
                    1, 1, 2, 2)) {
                List<Tensor> outputs = module.forward(input);
                try {
                    Tensor doubled = outputs.getFirst();
                    assertEquals(DType.FLOAT16, doubled.dtype());
                    short[] halves = doubled.data().toArray(JAVA_SHORT);
                    float[] expected = {3f, -4f, 0.5f, 6f};
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(expected[i], Float.float16ToFloat(halves[i]));
                    }
                } finally {
                    outputs.forEach(Tensor::close);
                }
            }
        }
    }

    @Test
    void bfloat16ConvNetGivesTheFloat32ResultWithinItsPrecision() {
        float[] reference = forward(DType.FLOAT32, false);
        float[] bf16 = forward(DType.BFLOAT16, false);
        assertClose(reference, bf16, 0.05);
    }

    @Test
    void channelsLastGivesTheSameResult() {
        assertClose(forward(DType.FLOAT32, false), forward(DType.FLOAT32, true), 1e-4);
        assertClose(Fixtures.floats("tiny_cnn.output_b4.bin"), forward(DType.FLOAT32, true), 1e-4);
    }

    @Test
    void float16ConvolutionOnLibtorch1sCpuFailsAtTheFirstForward() {
        assumeTrue(TorchRuntime.torchVersion().startsWith("1."), "libtorch 2.x has FP16 convolutions on the CPU");
        NativeException e = assertThrows(NativeException.class, () -> forward(DType.FLOAT16, false));
        assertTrue(e.getMessage().contains("Half"), e.getMessage());
    }

    @Test
    void float16ConvolutionOnLibtorch2sCpuGivesTheFloat32Result() {
        assumeFalse(TorchRuntime.torchVersion().startsWith("1."), "libtorch 1.x has no FP16 convolutions on the CPU");
        assertClose(forward(DType.FLOAT32, false), forward(DType.FLOAT16, true), 0.02);
    }

    @Test
    void onlyFloatingPrecisionsAreAccepted() {
        try (TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU)) {
            assertThrows(IllegalArgumentException.class, () -> module.convert(DType.INT8, false));
            module.close();
            assertThrows(IllegalStateException.class, () -> module.convert(DType.FLOAT16, false));
        }
    }

    /** tiny_cnn's logits for the b4 fixture input, in float32, converted as asked. */
    private static float[] forward(DType precision, boolean channelsLast) {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
                Tensor input = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT))) {
            module.convert(precision, channelsLast);
            List<Tensor> outputs = module.forward(input);
            try (Tensor logits = outputs.getFirst();
                    PinnedBuffer buffer = PinnedBuffer.allocate(logits.elementCount() * 4);
                    Tensor asFloat = buffer.view(0, DType.FLOAT32, logits.shape())) {
                assertEquals(precision, logits.dtype());
                logits.copyAsync(asFloat);
                return asFloat.data().toArray(JAVA_FLOAT);
            }
        }
    }

    private static void assertClose(float[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= tolerance * Math.max(1, Math.abs(expected[i])),
                    "element " + i + ": expected " + expected[i] + ", got " + actual[i]);
        }
    }
}
