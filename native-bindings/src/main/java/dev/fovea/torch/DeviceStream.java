package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_stream_create;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_stream_is_device;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_stream_make_current;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_stream_synchronize;

import dev.fovea.torch.internal.bindings.fovea_torch_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Objects;

/**
 * A stream of work on one device: a CUDA stream from libtorch's pool, or for the CPU a stream that does nothing, so
 * the same code runs on both. A thread that {@link #makeCurrent makes it current} queues all its later device work
 * (preprocessing, forward, copies, {@link SoftmaxTopK}) on it; {@link #synchronize} waits for that work.
 *
 * <p>Ownership: the caller of {@link #create} closes it; closing twice is harmless, a stream dropped unclosed is freed
 * after garbage collection, and every method but {@code close}, {@code device} and {@code isDevice} throws
 * {@link IllegalStateException} once closed. Closing does not undo {@link #makeCurrent} for threads that made it
 * current (libtorch's pool streams live as long as the process). Thread-safe.
 */
public final class DeviceStream implements AutoCloseable {

    static {
        NativeLibrary.ensureLoaded();
    }

    private final NativeHandle handle;
    private final Device device;
    private final boolean onDevice;

    private DeviceStream(MemorySegment address, Device device) {
        this.handle = new NativeHandle(this, address, fovea_torch_h::fovea_stream_free, "stream on " + device);
        this.device = device;
        this.onDevice = fovea_stream_is_device(address) != 0;
    }

    /**
     * A stream on {@code device}: a CUDA stream for a CUDA device, the CPU's stream that does nothing for the CPU.
     *
     * @throws NativeException when the device is not usable (CUDA on a libtorch without CUDA, a missing device)
     */
    public static DeviceStream create(Device device) {
        Objects.requireNonNull(device, "device");
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(C_POINTER); // fovea_stream *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_stream_create(Devices.toNative(device), device.index(), out, error), error);
            return new DeviceStream(out.get(C_POINTER, 0), device);
        }
    }

    public Device device() {
        return device;
    }

    /** True for a CUDA stream; false for the CPU's, on which every call returns at once. */
    public boolean isDevice() {
        return onDevice;
    }

    /** Makes this the calling thread's current stream on its device, until the thread makes another current. */
    public void makeCurrent() {
        call(fovea_torch_h::fovea_stream_make_current);
    }

    /**
     * Blocks until the work queued on this stream has finished.
     *
     * @throws NativeException with CUDA's message when queued work failed (a kernel or an asynchronous copy)
     */
    public void synchronize() {
        call(fovea_torch_h::fovea_stream_synchronize);
    }

    private interface StreamCall {
        int apply(MemorySegment stream, MemorySegment error);
    }

    private void call(StreamCall function) {
        MemorySegment stream = handle.acquire();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(function.apply(stream, error), error);
        } finally {
            handle.release();
            Reference.reachabilityFence(this);
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return "DeviceStream(" + device + (onDevice ? "" : ", no device stream") + ")";
    }
}
