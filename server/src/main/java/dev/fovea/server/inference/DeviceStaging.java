package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.DeviceStream;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.PinnedBuffer;
import java.util.Objects;

/**
 * One model instance's stream and its staging memory on the host, reused from batch to batch: tensor batches are
 * stacked into {@link #input} and copied to the device from there, a classifier's top-k results are copied back into
 * {@link #output}. Each buffer is page-locked where CUDA is usable (so the copies are asynchronous on the instance's
 * stream) and plain memory on a CPU-only libtorch, where the same code runs. A buffer is replaced by a larger one only
 * when a batch needs more, sized to the next power of two (at least {@link #MIN_BYTES}) so that batches growing one
 * image at a time do not allocate each time; every request for one counts as reused or allocated for the metrics.
 *
 * <p>Threads and ownership: owned by one {@link ModelInstance}, made and closed on its worker thread; each of the
 * instance's threads makes the stream current ({@link #makeCurrent}). A buffer is used under this object's lock,
 * from the moment it is handed out until the stream is synchronized after the copies that use it (see
 * {@link Staging} for the input, {@link Postprocessor} for the output), so the next use never overwrites memory a
 * queued copy still reads or writes.
 */
final class DeviceStaging implements AutoCloseable {

    /** The smallest buffer allocated: a classifier's top-k of a whole batch fits many times over. */
    static final long MIN_BYTES = 64 * 1024;

    private final DeviceStream stream;
    private final ModelRunner.Observer observer;
    private PinnedBuffer input;
    private PinnedBuffer output;

    private DeviceStaging(DeviceStream stream, ModelRunner.Observer observer) {
        this.stream = stream;
        this.observer = observer;
    }

    /** A stream on {@code device}, made current for the calling thread, and no buffers yet. */
    static DeviceStaging open(Device device, ModelRunner.Observer observer) {
        Objects.requireNonNull(observer, "observer");
        DeviceStream stream = DeviceStream.create(device);
        try {
            stream.makeCurrent();
        } catch (RuntimeException e) {
            stream.close();
            throw e;
        }
        return new DeviceStaging(stream, observer);
    }

    /** Makes the instance's stream the calling thread's current one, so its device work queues there. */
    void makeCurrent() {
        stream.makeCurrent();
    }

    /** The input staging buffer, at least {@code bytes} long; its previous contents are undefined. */
    PinnedBuffer input(long bytes) {
        input = sized(input, bytes);
        return input;
    }

    /** The output staging buffer, at least {@code bytes} long; its previous contents are undefined. */
    PinnedBuffer output(long bytes) {
        output = sized(output, bytes);
        return output;
    }

    private PinnedBuffer sized(PinnedBuffer buffer, long bytes) {
        if (buffer != null && buffer.byteSize() >= bytes) {
            observer.stagingBufferUsed(true);
            return buffer;
        }
        long size = Math.max(MIN_BYTES, bytes);
        PinnedBuffer larger = PinnedBuffer.allocate(Long.bitCount(size) == 1 ? size : Long.highestOneBit(size) << 1);
        if (buffer != null) {
            buffer.close();
        }
        observer.stagingBufferUsed(false);
        return larger;
    }

    /** Waits for everything queued on the instance's stream; see {@link DeviceStream#synchronize}. */
    void synchronize() {
        stream.synchronize();
    }

    /**
     * After a failed batch: waits for whatever it left queued, so the next batch can reuse the buffers. A failure here
     * is the device's, already reported by the batch; it is returned for the caller to judge the device by.
     */
    NativeException synchronizeAfterFailure() {
        try {
            stream.synchronize();
            return null;
        } catch (NativeException e) {
            return e;
        }
    }

    @Override
    public void close() {
        if (input != null) {
            input.close();
        }
        if (output != null) {
            output.close();
        }
        stream.close();
    }
}
