package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import org.junit.jupiter.api.Test;

/** Streams on a CPU-only libtorch: the CPU's stream does nothing, a CUDA one fails cleanly. */
class DeviceStreamTest {

    @Test
    void cpuStreamAcceptsEveryCallAndDoesNothing() {
        try (DeviceStream stream = DeviceStream.create(Device.CPU)) {
            assertFalse(stream.isDevice());
            assertEquals(Device.CPU, stream.device());
            stream.makeCurrent();
            stream.synchronize();
        }
    }

    @Test
    void cudaStreamWithoutCudaIsATorchError() {
        assumeFalse(TorchRuntime.cudaAvailable(), "this machine has CUDA");
        NativeException e = assertThrows(NativeException.class, () -> DeviceStream.create(Device.cuda(0)));
        assertEquals(NativeException.Kind.TORCH, e.kind());
        assertTrue(e.getMessage().toLowerCase().contains("cuda"), e.getMessage());
    }

    @Test
    void useAfterCloseThrowsAndCloseTwiceIsHarmless() {
        DeviceStream stream = DeviceStream.create(Device.CPU);
        stream.close();
        stream.close();
        assertTrue(stream.isClosed());
        assertThrows(IllegalStateException.class, stream::makeCurrent);
        assertThrows(IllegalStateException.class, stream::synchronize);
    }
}
