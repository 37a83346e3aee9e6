package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_INT;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_LONG;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_LONG_LONG;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_copy_async;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_device;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_dtype;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_from_blob;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_host_data;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_rank;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_shape;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_to_device;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_tensor_to_device_async;

import dev.fovea.torch.internal.bindings.fovea_torch_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.Objects;

/**
 * A libtorch tensor: either a zero-copy view of caller memory ({@link #wrap}) or a tensor that owns its storage (a
 * model output, the result of {@link #to}). Shape, dtype and device are fixed at creation.
 *
 * <p>Ownership: whoever creates or receives a tensor closes it; closing twice is harmless and a tensor dropped
 * unclosed is freed after garbage collection. After close every method but {@code close} and the metadata getters
 * throws {@link IllegalStateException}. Thread-safe: several threads may read a tensor or feed it to forwards at once.
 */
public final class Tensor implements AutoCloseable {

    static {
        NativeLibrary.ensureLoaded();
    }

    private final NativeHandle handle;
    /** The caller memory a view reads (kept reachable while the tensor is), or null for a tensor owning its data. */
    private final MemorySegment viewed;
    private final DType dtype;
    private final long[] shape;
    private final Device device;
    /** Scopes the segment {@link #data()} returns; closed with the tensor, so a stale view throws, never crashes. */
    private Arena dataScope;
    private MemorySegment data;

    /** Takes ownership of {@code address}, a fovea_tensor* the caller received and has not shared. */
    private Tensor(MemorySegment address, MemorySegment viewed) {
        this.handle = new NativeHandle(this, address, fovea_torch_h::fovea_tensor_free, "tensor");
        this.viewed = viewed;
        this.dtype = DType.ofCode(fovea_tensor_dtype(address));
        int rank = Math.toIntExact(fovea_tensor_rank(address));
        MemorySegment sizes = fovea_tensor_shape(address).reinterpret(rank * C_LONG_LONG.byteSize()); // int64_t[rank]
        this.shape = sizes.toArray(C_LONG_LONG);
        try (Arena call = Arena.ofConfined()) {
            MemorySegment type = call.allocate(C_INT); // fovea_device_type
            MemorySegment index = call.allocate(C_INT); // int32_t
            fovea_tensor_device(address, type, index);
            this.device = Devices.fromNative(type.get(C_INT, 0), index.get(C_INT, 0));
        }
    }

    /** Takes ownership of a fovea_tensor* returned by the C API. */
    static Tensor adopt(MemorySegment address) {
        return new Tensor(address, null);
    }

    /**
     * A CPU tensor that views {@code data} without copying it: contiguous, row-major, of the given dtype and shape.
     *
     * <p>The caller keeps {@code data} alive (its arena open) until this tensor is closed; the tensor keeps a reference
     * to the segment, so an automatic arena's memory stays reachable. Writes to {@code data} are seen by the next
     * forward that reads the tensor.
     *
     * @throws IllegalArgumentException if {@code data} is not native memory, is not aligned for {@code dtype}, or its
     *     size is not exactly what the shape needs
     */
    public static Tensor wrap(MemorySegment data, DType dtype, long... shape) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(dtype, "dtype");
        if (dtype == DType.OTHER) {
            throw new IllegalArgumentException("dtype OTHER cannot be wrapped");
        }
        if (!data.isNative()) {
            throw new IllegalArgumentException("data must be native (off-heap) memory, not a heap segment");
        }
        long bytes = byteSize(dtype, shape);
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("data holds " + data.byteSize() + " bytes but " + dtype + " "
                    + Arrays.toString(shape) + " needs " + bytes);
        }
        if (data.address() % dtype.byteSize() != 0) {
            throw new IllegalArgumentException("data at 0x" + Long.toHexString(data.address())
                    + " is not aligned to " + dtype.byteSize() + " bytes for " + dtype);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment sizes = call.allocateFrom(C_LONG_LONG, shape); // int64_t[rank]
            MemorySegment out = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_tensor_from_blob(data, sizes, shape.length, dtype.code(), out, error), error);
            return new Tensor(out.get(C_POINTER, 0), data);
        }
    }

    private static long byteSize(DType dtype, long[] shape) {
        long bytes = dtype.byteSize();
        for (long size : shape) {
            if (size < 0) {
                throw new IllegalArgumentException("negative size in shape " + Arrays.toString(shape));
            }
            try {
                bytes = Math.multiplyExact(bytes, size);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " overflows a long", e);
            }
        }
        return bytes;
    }

    public DType dtype() {
        return dtype;
    }

    /** The size of each dimension (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    public Device device() {
        return device;
    }

    public long elementCount() {
        long count = 1;
        for (long size : shape) {
            count *= size;
        }
        return count;
    }

    /**
     * The tensor's elements on the host, read-only, little-endian, row-major: for a view, the caller's own memory;
     * otherwise memory owned by the tensor. The segment is valid until this tensor is closed; touching it afterwards
     * throws {@link IllegalStateException}.
     *
     * @throws NativeException if the tensor is not on the CPU (copy it with {@link #to} first)
     */
    public synchronized MemorySegment data() {
        if (data != null) {
            return data;
        }
        MemorySegment tensor = handle.acquire();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment pointer = call.allocate(C_POINTER); // void *
            MemorySegment byteSize = call.allocate(C_LONG); // size_t
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_tensor_host_data(tensor, pointer, byteSize, error), error);
            dataScope = Arena.ofShared();
            data = pointer.get(C_POINTER, 0).reinterpret(byteSize.get(C_LONG, 0), dataScope, null).asReadOnly();
            return data;
        } finally {
            handle.release();
            Reference.reachabilityFence(this);
        }
    }

    /** A contiguous copy of this tensor on {@code device}; the caller owns and closes it. */
    public Tensor to(Device device) {
        return copyTo(device, fovea_torch_h::fovea_tensor_to_device);
    }

    /**
     * Like {@link #to}, but queued on the calling thread's current {@link DeviceStream} without waiting: from a
     * {@link PinnedBuffer} view to a CUDA device the copy runs asynchronously, and later work on the same stream may
     * use the result at once. This tensor's memory must stay alive and unchanged until the stream is synchronized.
     * From plain memory, or to the CPU, the copy is done when this returns.
     */
    public Tensor toAsync(Device device) {
        return copyTo(device, fovea_torch_h::fovea_tensor_to_device_async);
    }

    private interface DeviceCopy {
        int apply(MemorySegment tensor, int deviceType, int deviceIndex, MemorySegment out, MemorySegment error);
    }

    private Tensor copyTo(Device device, DeviceCopy copy) {
        Objects.requireNonNull(device, "device");
        MemorySegment tensor = acquireForCall();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(copy.apply(tensor, Devices.toNative(device), device.index(), out, error), error);
            return adopt(out.get(C_POINTER, 0));
        } finally {
            releaseAfterCall();
        }
    }

    /**
     * Copies this tensor into {@code destination} (same shape; the element type is converted), queued on the calling
     * thread's current {@link DeviceStream}: from a CUDA tensor into a {@link PinnedBuffer} view it runs
     * asynchronously, and {@code destination} holds the values once the stream is synchronized. Both tensors must
     * stay open until then.
     *
     * @throws NativeException of kind INVALID_ARGUMENT when the shapes differ
     * @throws IllegalStateException if either tensor is closed
     */
    public void copyAsync(Tensor destination) {
        Objects.requireNonNull(destination, "destination");
        MemorySegment source = acquireForCall();
        try {
            MemorySegment target = destination.acquireForCall();
            try (Arena call = Arena.ofConfined()) {
                MemorySegment error = NativeErrors.errorSlot(call);
                NativeErrors.check(fovea_tensor_copy_async(source, target, error), error);
            } finally {
                destination.releaseAfterCall();
            }
        } finally {
            releaseAfterCall();
        }
    }

    /**
     * The native pointer for one call that reads this tensor; pair with {@link #releaseAfterCall()}. Fails if the
     * tensor is closed or, for a view, if the caller already closed the memory it views.
     */
    MemorySegment acquireForCall() {
        MemorySegment address = handle.acquire();
        if (viewed != null && !viewed.scope().isAlive()) {
            handle.release();
            throw new IllegalStateException("the memory this tensor views was freed (its arena is closed)");
        }
        return address;
    }

    void releaseAfterCall() {
        handle.release();
        Reference.reachabilityFence(this);
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Frees the native tensor (a view's caller memory is untouched) and invalidates {@link #data()} segments. */
    @Override
    public void close() {
        synchronized (this) {
            if (dataScope != null) {
                dataScope.close();
                dataScope = null;
                data = null;
            }
        }
        handle.close();
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + Arrays.toString(shape) + " on " + device + (viewed != null ? ", view" : "") + ")";
    }
}
