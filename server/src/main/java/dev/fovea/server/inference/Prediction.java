package dev.fovea.server.inference;

import dev.fovea.torch.DType;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * What a model made of one image: its top classes (classifiers), its raw outputs (when asked for), and where the
 * time went. Immutable.
 */
public record Prediction(List<ClassScore> classes, List<OutputTensor> outputs, Timings timings) {

    public Prediction {
        classes = List.copyOf(classes);
        outputs = List.copyOf(outputs);
    }

    /** One class of a classifier's output, with its softmax probability. */
    public record ClassScore(int index, String label, float score) {}

    /**
     * One output tensor for this image, batch dimension removed; little-endian, C order. {@code data} is a read-only
     * view of the batch's output memory, valid until the {@link Predictions} holding it is closed.
     */
    public record OutputTensor(DType dtype, long[] shape, MemorySegment data) {
        public OutputTensor {
            shape = shape.clone();
            data = data.asReadOnly();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    /**
     * Microseconds per stage; preprocess and inference are for the whole batch the image ran in. For tracing, where
     * the stages started ({@link System#nanoTime()} instants, read when the stages were timed anyway) and the batch's
     * number among the model's batches, which the requests of one batch share.
     */
    public record Timings(long queueMicros, long preprocessMicros, long inferenceMicros, long postprocessMicros,
            int batchSize, long batchId, long preprocessStartNanos, long inferenceStartNanos,
            long postprocessStartNanos) {}
}
