package dev.fovea.server.inference;

import java.util.Comparator;
import java.util.stream.IntStream;

/** Turns a row of logits into probabilities and picks the best classes. */
public final class Softmax {

    private Softmax() {}

    public static float[] of(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float logit : logits) {
            max = Math.max(max, logit);
        }
        double sum = 0;
        double[] exponentials = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            exponentials[i] = Math.exp(logits[i] - max);
            sum += exponentials[i];
        }
        float[] probabilities = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            probabilities[i] = (float) (exponentials[i] / sum);
        }
        return probabilities;
    }

    /** Indices of the k largest values, largest first; ties keep the lower index first. */
    public static int[] topK(float[] values, int k) {
        return IntStream.range(0, values.length)
                .boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> values[i]).reversed())
                .limit(Math.max(0, k))
                .mapToInt(Integer::intValue)
                .toArray();
    }
}
