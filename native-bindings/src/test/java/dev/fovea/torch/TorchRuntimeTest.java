package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TorchRuntimeTest {

    @Test
    void reportsLibtorchVersion() {
        assertTrue(TorchRuntime.torchVersion().matches("[12]\\.\\d+\\.\\d+.*"), TorchRuntime.torchVersion());
    }

    @Test
    void cudaAvailabilityAgreesWithDeviceCount() {
        assertEquals(TorchRuntime.cudaAvailable(), TorchRuntime.cudaDeviceCount() > 0);
    }

    @Test
    void intraOpThreadsAreSetExplicitly() {
        int before = TorchRuntime.intraOpThreads();
        try {
            TorchRuntime.setIntraOpThreads(1);
            assertEquals(1, TorchRuntime.intraOpThreads());
        } finally {
            TorchRuntime.setIntraOpThreads(before);
        }
        assertThrows(IllegalArgumentException.class, () -> TorchRuntime.setIntraOpThreads(0));
    }
}
