package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_softmax_topk;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A classifier's best classes, computed where its logits are: a softmax over each row in float32, then the k largest
 * probabilities, largest first. Only these {@code rows * k} values need to cross back to the host.
 *
 * <p>Ownership: the caller closes the result, which closes both tensors; both live on the logits' device and are
 * queued on the current {@link DeviceStream} (copy them with {@link Tensor#copyAsync}, then synchronize).
 *
 * @param probabilities float32 [rows, k]
 * @param indices int64 [rows, k], the class of each probability
 */
public record SoftmaxTopK(Tensor probabilities, Tensor indices) implements AutoCloseable {

    public SoftmaxTopK {
        Objects.requireNonNull(probabilities, "probabilities");
        Objects.requireNonNull(indices, "indices");
    }

    /**
     * The top {@code k} classes of each row of {@code logits} ([rows, classes], any floating-point type).
     *
     * @throws NativeException of kind INVALID_ARGUMENT for another shape or type, or k outside 1..classes
     * @throws IllegalStateException if {@code logits} is closed
     */
    public static SoftmaxTopK of(Tensor logits, int k) {
        Objects.requireNonNull(logits, "logits");
        MemorySegment tensor = logits.acquireForCall();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment values = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment indices = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_softmax_topk(tensor, k, values, indices, error), error);
            return new SoftmaxTopK(Tensor.adopt(values.get(C_POINTER, 0)), Tensor.adopt(indices.get(C_POINTER, 0)));
        } finally {
            logits.releaseAfterCall();
        }
    }

    @Override
    public void close() {
        probabilities.close();
        indices.close();
    }
}
