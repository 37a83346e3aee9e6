package dev.fovea.server.inference;

import dev.fovea.torch.Tensor;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A batch's host output tensors, shared by the requests of the batch whose responses view them. Reference counted:
 * the worker that ran the batch holds one reference until it has made every request's predictions, each
 * {@link Predictions} with raw outputs holds one until it is closed, and whoever drops the last one frees the tensors,
 * on its own thread (tensors may be freed from any thread).
 */
final class OutputMemory {

    private final List<Tensor> tensors;
    private final AtomicInteger references = new AtomicInteger(1);

    /** Takes ownership of {@code tensors}; the caller holds the first reference. */
    OutputMemory(List<Tensor> tensors) {
        this.tensors = List.copyOf(tensors);
    }

    void retain() {
        if (references.getAndIncrement() <= 0) {
            throw new IllegalStateException("output memory already freed");
        }
    }

    void release() {
        if (references.decrementAndGet() == 0) {
            tensors.forEach(Tensor::close);
        }
    }
}
