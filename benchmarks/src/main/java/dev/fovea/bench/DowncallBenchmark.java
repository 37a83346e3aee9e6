package dev.fovea.bench;

import dev.fovea.torch.TorchRuntime;
import dev.fovea.torch.internal.bindings.fovea_torch_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of one FFM downcall into libfovea_torch: {@code fovea_tensor_rank} reads one field of a tensor, so the
 * time is the call itself. {@code fovea_intra_op_threads} adds libtorch's own (OpenMP) lookup, for scale.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DowncallBenchmark {

    private Arena arena;
    private MemorySegment tensor;

    @Setup(Level.Trial)
    public void createTensor() {
        TorchRuntime.torchVersion(); // loads libfovea_torch.so
        arena = Arena.ofConfined();
        MemorySegment shape = arena.allocateFrom(fovea_torch_h.C_LONG_LONG, 4); // int64_t[1]
        MemorySegment out = arena.allocate(fovea_torch_h.C_POINTER); // fovea_tensor *
        MemorySegment error = arena.allocate(fovea_torch_h.C_POINTER); // fovea_error *
        MemorySegment data = arena.allocate(16, 8);
        int status = fovea_torch_h.fovea_tensor_from_blob(
                data, shape, 1, fovea_torch_h.FOVEA_DTYPE_FLOAT32(), out, error);
        if (status != fovea_torch_h.FOVEA_OK()) {
            throw new IllegalStateException("fovea_tensor_from_blob failed with status " + status);
        }
        tensor = out.get(fovea_torch_h.C_POINTER, 0);
    }

    @TearDown(Level.Trial)
    public void freeTensor() {
        fovea_torch_h.fovea_tensor_free(tensor);
        arena.close();
    }

    @Benchmark
    public long tensorRank() {
        return fovea_torch_h.fovea_tensor_rank(tensor);
    }

    @Benchmark
    public int intraOpThreads() {
        return fovea_torch_h.fovea_intra_op_threads();
    }
}
