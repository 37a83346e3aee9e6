package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Java layer's outputs equal what Python's torch computed for the same models and inputs. */
class ReferenceOutputTest {

    private static final double TOLERANCE = 1e-5;

    @BeforeAll
    static void setThreads() {
        TorchRuntime.setIntraOpThreads(2);
    }

    @ParameterizedTest(name = "{0} batch {1}")
    @CsvSource({"tiny_cnn, 1", "tiny_cnn, 4", "tiny_vit, 1", "tiny_vit, 4"})
    void outputMatchesPythonReference(String model, int batch) {
        String input = model + ".input_b" + batch + ".bin";
        String reference = model + ".output_b" + batch + ".bin";
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path(model + ".pt"), Device.CPU);
                Tensor images = Tensor.wrap(Fixtures.loadFloats(input, arena), DType.FLOAT32, Fixtures.shape(input))) {
            List<Tensor> outputs = module.forward(images);
            try (Tensor logits = outputs.getFirst()) {
                assertEquals(1, outputs.size());
                assertEquals(DType.FLOAT32, logits.dtype());
                assertArrayEquals(Fixtures.shape(reference), logits.shape());
                float[] expected = Fixtures.floats(reference);
                float[] actual = logits.data().toArray(JAVA_FLOAT);
                assertEquals(expected.length, actual.length);
                double maxDiff = 0;
                for (int i = 0; i < expected.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
                }
                assertTrue(maxDiff <= TOLERANCE, "max abs diff " + maxDiff + " > " + TOLERANCE);
            }
        }
    }
}
