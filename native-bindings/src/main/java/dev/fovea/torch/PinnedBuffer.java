package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_LONG_LONG;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_host_buffer_alloc;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_host_buffer_data;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_host_buffer_is_pinned;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_host_buffer_size;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_host_buffer_view;

import dev.fovea.torch.internal.bindings.fovea_torch_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Objects;

/**
 * Host memory for staging copies to and from a device, allocated once and reused: page-locked when libtorch has a
 * usable CUDA device, so {@link Tensor#toAsync} from it and {@link Tensor#copyAsync} into it run asynchronously on the
 * current {@link DeviceStream}; plain host memory otherwise, where the same calls work and copy at once.
 *
 * <p>Ownership: the caller of {@link #allocate} closes it; closing twice is harmless, a buffer dropped unclosed is
 * freed after garbage collection. {@link #segment()} is scoped to the buffer: touching it after close throws
 * {@link IllegalStateException}. A {@link #view} shares the buffer's memory and keeps it allocated until the view is
 * closed too. What the bytes hold is the caller's to coordinate: memory an asynchronous copy reads or writes must not
 * be touched until its stream is synchronized. Thread-safe.
 */
public final class PinnedBuffer implements AutoCloseable {

    static {
        NativeLibrary.ensureLoaded();
    }

    private final NativeHandle handle;
    private final boolean pinned;
    private final Arena scope = Arena.ofShared();
    private final MemorySegment bytes;

    private PinnedBuffer(MemorySegment address) {
        this.handle = new NativeHandle(this, address, fovea_torch_h::fovea_host_buffer_free, "pinned buffer");
        this.pinned = fovea_host_buffer_is_pinned(address) != 0;
        this.bytes = fovea_host_buffer_data(address).reinterpret(fovea_host_buffer_size(address), scope, null);
    }

    /**
     * {@code byteSize} uninitialized bytes, aligned to at least 64; page-locked where CUDA is usable.
     *
     * @throws IllegalArgumentException if {@code byteSize} is less than 1
     * @throws NativeException of kind OUT_OF_MEMORY when the memory is not available
     */
    public static PinnedBuffer allocate(long byteSize) {
        if (byteSize < 1) {
            throw new IllegalArgumentException("byte size must be at least 1, not " + byteSize);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(C_POINTER); // fovea_host_buffer *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_host_buffer_alloc(byteSize, 1, out, error), error);
            return new PinnedBuffer(out.get(C_POINTER, 0));
        }
    }

    /** True when the memory is page-locked; false for plain memory (no usable CUDA). */
    public boolean isPinned() {
        return pinned;
    }

    public long byteSize() {
        return bytes.byteSize();
    }

    /**
     * The buffer's bytes, writable, valid until this buffer is closed.
     *
     * @throws IllegalStateException if the buffer is closed
     */
    public MemorySegment segment() {
        if (handle.isClosed()) {
            throw new IllegalStateException("pinned buffer is closed");
        }
        return bytes;
    }

    /**
     * A CPU tensor viewing the bytes from {@code offset} on as a contiguous {@code dtype} tensor of {@code shape}; the
     * caller closes it. It shares this buffer's memory.
     *
     * @throws NativeException of kind INVALID_ARGUMENT when the view does not fit or {@code offset} is not a multiple
     *     of the element size
     * @throws IllegalStateException if the buffer is closed
     */
    public Tensor view(long offset, DType dtype, long... shape) {
        Objects.requireNonNull(dtype, "dtype");
        if (offset < 0) {
            throw new IllegalArgumentException("offset must not be negative: " + offset);
        }
        MemorySegment buffer = handle.acquire();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment sizes = call.allocateFrom(C_LONG_LONG, shape); // int64_t[rank]
            MemorySegment out = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(
                    fovea_host_buffer_view(buffer, offset, sizes, shape.length, dtype.code(), out, error), error);
            return Tensor.adopt(out.get(C_POINTER, 0));
        } finally {
            handle.release();
            Reference.reachabilityFence(this);
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Invalidates {@link #segment()} and frees the buffer once no view of it lives. */
    @Override
    public void close() {
        synchronized (this) {
            if (scope.scope().isAlive()) {
                scope.close();
            }
        }
        handle.close();
    }

    @Override
    public String toString() {
        return "PinnedBuffer(" + bytes.byteSize() + " bytes, " + (pinned ? "page-locked" : "plain memory") + ")";
    }
}
