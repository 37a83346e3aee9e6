package dev.fovea.server.inference;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What a model made of one request: one {@link Prediction} per image, in request order.
 *
 * <p>Ownership: raw output tensors ({@link Prediction.OutputTensor#data()}) are read-only views of the batch's output
 * memory, which a request shares with the others of its batch, so that responses are written from tensor memory
 * without a copy. Whoever receives a Predictions closes it once those bytes have been written out; the batch's memory
 * is freed when its last request has closed (on that thread). Closing twice is harmless; reading an output view after
 * close throws {@link IllegalStateException}, never reads freed memory. Predictions without raw outputs hold nothing.
 */
public final class Predictions implements AutoCloseable {

    private final List<Prediction> list;
    private final OutputMemory memory;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Takes one reference on {@code memory} (null when the predictions carry no raw outputs). */
    Predictions(List<Prediction> list, OutputMemory memory) {
        this.list = List.copyOf(list);
        this.memory = memory;
        if (memory != null) {
            memory.retain();
        }
    }

    public List<Prediction> list() {
        return list;
    }

    public Prediction first() {
        return list.getFirst();
    }

    public int size() {
        return list.size();
    }

    @Override
    public void close() {
        if (memory != null && closed.compareAndSet(false, true)) {
            memory.release();
        }
    }
}
