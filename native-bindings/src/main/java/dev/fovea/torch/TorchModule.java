package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_LONG;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_module_convert;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_module_forward;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_module_load;

import dev.fovea.torch.internal.bindings.fovea_torch_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A TorchScript module loaded onto one device, in eval mode.
 *
 * <p>Ownership: the caller of {@link #load} closes the module; closing twice is harmless, a module dropped unclosed is
 * freed after garbage collection, and a close that races with running forwards frees the module when the last one
 * returns. Thread-safe: {@link #forward} may run on several threads at once.
 */
public final class TorchModule implements AutoCloseable {

    static {
        NativeLibrary.ensureLoaded();
    }

    /** The most output tensors one forward may return; a model returning more fails with UNSUPPORTED_OUTPUT. */
    public static final int MAX_OUTPUTS = 256;

    private final NativeHandle handle;
    private final Path path;
    private final Device device;

    private TorchModule(MemorySegment address, Path path, Device device) {
        this.handle = new NativeHandle(this, address, fovea_torch_h::fovea_module_free, "module " + path);
        this.path = path;
        this.device = device;
    }

    /**
     * Loads the TorchScript file at {@code path} onto {@code device}.
     *
     * @throws NativeException with libtorch's message when the file is missing, corrupt or not TorchScript, or the
     *     device is not available
     */
    public static TorchModule load(Path path, Device device) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(device, "device");
        Path absolute = path.toAbsolutePath();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment file = call.allocateFrom(absolute.toString()); // const char *, UTF-8
            MemorySegment out = call.allocate(C_POINTER); // fovea_module *
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(
                    fovea_module_load(file, Devices.toNative(device), device.index(), out, error), error);
            return new TorchModule(out.get(C_POINTER, 0), absolute, device);
        }
    }

    /**
     * Converts the module, once, before its first forward: its floating-point parameters and buffers to
     * {@code precision} (FLOAT32, FLOAT16 or BFLOAT16), and with {@code channelsLast} its 4-D ones to channels-last
     * memory. Later forwards cast floating-point inputs to the precision and make 4-D inputs channels-last on the
     * module's device; outputs come back in the type the model computes. Whether libtorch has kernels for the
     * combination on this device shows at the first forward (FLOAT16 convolutions on the CPU often have none): run one
     * before serving.
     *
     * @throws IllegalArgumentException for another precision
     * @throws IllegalStateException if the module is closed
     */
    public void convert(DType precision, boolean channelsLast) {
        Objects.requireNonNull(precision, "precision");
        if (precision != DType.FLOAT32 && precision != DType.FLOAT16 && precision != DType.BFLOAT16) {
            throw new IllegalArgumentException("precision must be FLOAT32, FLOAT16 or BFLOAT16, not " + precision);
        }
        MemorySegment address = handle.acquire();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_module_convert(address, precision.code(), channelsLast ? 1 : 0, error), error);
        } finally {
            handle.release();
            Reference.reachabilityFence(this);
        }
    }

    public Path path() {
        return path;
    }

    public Device device() {
        return device;
    }

    /** Runs forward on the inputs, see {@link #forward(List)}. */
    public List<Tensor> forward(Tensor... inputs) {
        return forward(List.of(inputs));
    }

    /**
     * Runs the module's forward method with autograd off and returns its output tensors: one for a tensor output,
     * the elements in order for a tuple or list (nested ones flattened). Blocks the calling thread while libtorch
     * computes. The caller owns and closes the returned tensors; the inputs stay the caller's.
     *
     * @throws NativeException with libtorch's message when the model raises or rejects the inputs (rank, shape,
     *     dtype, device), or returns something other than tensors; the module stays usable
     * @throws IllegalStateException if this module or an input is closed
     */
    public List<Tensor> forward(List<Tensor> inputs) {
        Objects.requireNonNull(inputs, "inputs");
        MemorySegment module = handle.acquire();
        int acquired = 0;
        try (Arena call = Arena.ofConfined()) {
            MemorySegment inputArray = call.allocate(C_POINTER, inputs.size()); // fovea_tensor *[num_inputs]
            for (Tensor input : inputs) {
                inputArray.setAtIndex(C_POINTER, acquired, input.acquireForCall());
                acquired++;
            }
            MemorySegment outputArray = call.allocate(C_POINTER, MAX_OUTPUTS); // fovea_tensor *[MAX_OUTPUTS]
            MemorySegment outputCount = call.allocate(C_LONG); // size_t
            MemorySegment error = NativeErrors.errorSlot(call);
            int status = fovea_module_forward(
                    module, inputArray, inputs.size(), outputArray, MAX_OUTPUTS, outputCount, error);
            NativeErrors.check(status, error);
            // From here each output is ours: adopt them all before anything else can throw.
            int count = Math.toIntExact(outputCount.get(C_LONG, 0));
            List<Tensor> outputs = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                outputs.add(Tensor.adopt(outputArray.getAtIndex(C_POINTER, i)));
            }
            return outputs;
        } finally {
            for (int i = 0; i < acquired; i++) {
                inputs.get(i).releaseAfterCall();
            }
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
        return "TorchModule(" + path + " on " + device + ")";
    }
}
