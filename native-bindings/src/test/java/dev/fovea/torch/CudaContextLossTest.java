package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * A device-side assert (a gather past the end of its input) leaves the process's CUDA context unusable: the forward
 * or the next synchronization reports it as a NativeException, never a crash, and later work on the device fails too.
 * It breaks CUDA for the rest of the JVM, so it runs only when asked, alone:
 * {@code mvn test -pl native-bindings -Dtest=CudaContextLossTest -Dfovea.cuda.destructive=true}.
 */
@EnabledIfSystemProperty(named = "fovea.cuda.destructive", matches = "true")
class CudaContextLossTest {

    @Test
    void aDeviceSideAssertIsAnErrorAndTheContextStaysBroken() {
        assumeTrue(TorchRuntime.cudaAvailable(), "no CUDA device");
        Device gpu = Device.cuda(0);
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("gathers_out_of_range.pt"), gpu);
                DeviceStream stream = DeviceStream.create(gpu);
                Tensor host = Tensor.wrap(arena.allocate(16), DType.FLOAT32, 1, 4)) {
            stream.makeCurrent();
            NativeException failure = assertThrows(NativeException.class, () -> {
                try (Tensor input = host.to(gpu)) {
                    module.forward(input).forEach(Tensor::close);
                    stream.synchronize();
                }
            });
            assertTrue(failure.getMessage().contains("CUDA"), failure.getMessage());
            assertThrows(NativeException.class, () -> {
                try (Tensor again = host.to(gpu)) {
                    stream.synchronize();
                }
            });
        }
    }
}
