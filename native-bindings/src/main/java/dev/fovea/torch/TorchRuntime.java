package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_cuda_device_count;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_cuda_is_available;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_intra_op_threads;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_set_intra_op_threads;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_torch_version;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Process-wide facts about and settings of the libtorch this JVM runs. Loads the native library on first use. */
public final class TorchRuntime {

    static {
        NativeLibrary.ensureLoaded();
    }

    private TorchRuntime() {}

    /** libtorch's version, e.g. {@code 1.13.0}. */
    public static String torchVersion() {
        return fovea_torch_version().reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Whether libtorch was built with CUDA and sees a usable device. */
    public static boolean cudaAvailable() {
        return fovea_cuda_is_available() != 0;
    }

    public static int cudaDeviceCount() {
        return fovea_cuda_device_count();
    }

    /**
     * Sets libtorch's intra-op thread count for the whole process (and with it OpenMP's, which OpenBLAS uses). Set it
     * once at start-up, before models run: libtorch's default follows the core count, which a container or a shared
     * machine may not want.
     *
     * @throws IllegalArgumentException if {@code threads} is less than 1
     */
    public static void setIntraOpThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("intra-op threads must be at least 1, not " + threads);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment error = NativeErrors.errorSlot(call);
            NativeErrors.check(fovea_set_intra_op_threads(threads, error), error);
        }
    }

    public static int intraOpThreads() {
        return fovea_intra_op_threads();
    }
}
