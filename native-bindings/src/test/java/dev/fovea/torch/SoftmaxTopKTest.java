package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Softmax and top-k where the logits are, against the same computed in Java in double precision. */
class SoftmaxTopKTest {

    @Test
    void matchesASoftmaxComputedInJava() {
        int rows = 3;
        int classes = 50;
        int k = 5;
        float[] logits = new float[rows * classes];
        Random random = new Random(42);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (random.nextGaussian() * 4);
        }
        try (Arena arena = Arena.ofConfined();
                Tensor input = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, logits), DType.FLOAT32, rows, classes);
                SoftmaxTopK top = SoftmaxTopK.of(input, k)) {
            assertArrayEquals(new long[] {rows, k}, top.probabilities().shape());
            assertEquals(DType.FLOAT32, top.probabilities().dtype());
            assertEquals(DType.INT64, top.indices().dtype());
            float[] probabilities = top.probabilities().data().toArray(JAVA_FLOAT);
            long[] indices = top.indices().data().toArray(JAVA_LONG);
            for (int row = 0; row < rows; row++) {
                double[] expected = softmax(logits, row * classes, classes);
                Integer[] order = new Integer[classes];
                for (int c = 0; c < classes; c++) {
                    order[c] = c;
                }
                java.util.Arrays.sort(order, (a, b) -> Double.compare(expected[b], expected[a]));
                for (int i = 0; i < k; i++) {
                    assertEquals(order[i].longValue(), indices[row * k + i], "row " + row + " rank " + i);
                    assertEquals(expected[order[i]], probabilities[row * k + i], 1e-6);
                }
            }
        }
    }

    @Test
    void halfPrecisionLogitsGiveFloat32Probabilities() {
        try (Arena arena = Arena.ofConfined();
                Tensor input = Tensor.wrap(arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_SHORT,
                        Float.floatToFloat16(1f), Float.floatToFloat16(3f)), DType.FLOAT16, 1, 2);
                SoftmaxTopK top = SoftmaxTopK.of(input, 1)) {
            assertEquals(DType.FLOAT32, top.probabilities().dtype());
            assertEquals(1L, top.indices().data().get(JAVA_LONG, 0));
            assertEquals(1 / (1 + Math.exp(-2)), top.probabilities().data().get(JAVA_FLOAT, 0), 1e-6);
        }
    }

    @Test
    void badShapesAndKAreInvalidArguments() {
        try (Arena arena = Arena.ofConfined();
                Tensor flat = Tensor.wrap(arena.allocate(16), DType.FLOAT32, 4);
                Tensor integers = Tensor.wrap(arena.allocate(16), DType.INT32, 1, 4);
                Tensor logits = Tensor.wrap(arena.allocate(16), DType.FLOAT32, 1, 4)) {
            for (Runnable call : new Runnable[] {() -> SoftmaxTopK.of(flat, 1), () -> SoftmaxTopK.of(integers, 1),
                    () -> SoftmaxTopK.of(logits, 0), () -> SoftmaxTopK.of(logits, 5)}) {
                NativeException e = assertThrows(NativeException.class, call::run);
                assertEquals(NativeException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
            }
            logits.close();
            assertThrows(IllegalStateException.class, () -> SoftmaxTopK.of(logits, 1));
        }
    }

    private static double[] softmax(float[] logits, int from, int count) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double sum = 0;
        double[] result = new double[count];
        for (int i = 0; i < count; i++) {
            result[i] = Math.exp(logits[from + i] - max);
            sum += result[i];
        }
        for (int i = 0; i < count; i++) {
            result[i] /= sum;
        }
        return result;
    }
}
