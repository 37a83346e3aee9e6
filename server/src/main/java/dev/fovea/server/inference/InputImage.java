package dev.fovea.server.inference;

import dev.fovea.torch.DType;
import dev.fovea.torch.ImageInput;
import java.util.Objects;

/** One image of a request, already in native memory: a picture to preprocess, or a tensor to pass as it is. */
public sealed interface InputImage {

    /** An encoded or raw picture; the model's preprocessing turns it into the model's input. */
    record Picture(ImageInput image) implements InputImage {
        public Picture {
            Objects.requireNonNull(image, "image");
        }
    }

    /**
     * A tensor the model receives without preprocessing; the batch stacks the tensors of a request, which must
     * share dtype and shape. {@code data} holds exactly the shape's elements, little-endian, C order.
     */
    record Tensor(DType dtype, long[] shape, java.lang.foreign.MemorySegment data) implements InputImage {
        public Tensor {
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(data, "data");
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }
}
