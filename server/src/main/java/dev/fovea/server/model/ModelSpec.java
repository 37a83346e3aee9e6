package dev.fovea.server.model;

import java.util.List;
import java.util.Objects;

/**
 * What a served model takes and returns, in no protocol's terms: both repository layouts produce it (Fovea's from the
 * preprocessing it declares and the outputs seen at warm-up, Triton's from the inputs and outputs its config.pbtxt
 * declares, checked at warm-up), requests are checked against it ({@link InputCheck}), and each API renders its own
 * description from it. Immutable.
 *
 * @param name the model's name: its folder in the repository
 * @param maxBatchSize the most rows one request may carry; 0 for a model that does not batch (Triton's meaning)
 * @param takesPictures true when the model decodes and preprocesses pictures (Fovea's layout): its input is a picture,
 *     encoded ({@link ElementType#BYTES}) or raw UINT8 rows of {@code [height, width, channels]}, and any other tensor
 *     reaches the model as it is; false when it takes exactly its declared tensor input
 * @param inputs the inputs clients send
 * @param outputs the outputs the model returns, in the model's order
 * @param labels the class labels of output 0, in class order; empty when the model has none
 */
public record ModelSpec(String name, int maxBatchSize, boolean takesPictures, List<Tensor> inputs,
        List<Tensor> outputs, List<String> labels) {

    /**
     * One input or output: a row's shape without the batch dimension, -1 for a size that varies.
     *
     * @param reshape the shape the model takes a row in (Triton's {@code reshape}); empty for the shape as sent
     */
    public record Tensor(String name, ElementType type, List<Long> dims, List<Long> reshape) {
        public Tensor {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(type, "type");
            dims = List.copyOf(dims);
            reshape = List.copyOf(reshape);
        }

        public Tensor(String name, ElementType type, List<Long> dims) {
            this(name, type, dims, List.of());
        }
    }

    public ModelSpec {
        Objects.requireNonNull(name, "name");
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        labels = List.copyOf(labels);
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("a model has at least one input");
        }
    }

    /** The input a request must name (Fovea serves models of one input). */
    public Tensor input() {
        return inputs.getFirst();
    }
}
