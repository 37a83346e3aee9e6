package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.torch.Device;
import dev.fovea.torch.PinnedBuffer;
import dev.fovea.torch.TorchRuntime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An instance's staging buffers grow only when a batch needs more, and every use is counted. */
class DeviceStagingTest {

    /** Records each use as the observer hears it. */
    private static final class Uses implements ModelRunner.Observer {
        final List<Boolean> reused = new ArrayList<>();

        @Override
        public void batchRan(int images, long preprocessNanos, long computeNanos) {}

        @Override
        public void requestRan(long queueNanos, long postprocessNanos) {}

        @Override
        public void stagingBufferUsed(boolean reused) {
            this.reused.add(reused);
        }
    }

    @Test
    void buffersGrowToThePowerOfTwoABatchNeedsAndAreReusedOtherwise() {
        Uses uses = new Uses();
        PinnedBuffer first;
        try (DeviceStaging staging = DeviceStaging.open(Device.CPU, uses)) {
            first = staging.input(10);
            assertEquals(DeviceStaging.MIN_BYTES, first.byteSize());
            assertEquals(TorchRuntime.cudaAvailable(), first.isPinned());
            assertSame(first, staging.input(DeviceStaging.MIN_BYTES));
            PinnedBuffer larger = staging.input(DeviceStaging.MIN_BYTES + 1);
            assertEquals(2 * DeviceStaging.MIN_BYTES, larger.byteSize());
            assertTrue(first.isClosed(), "the smaller buffer is freed when replaced");
            assertSame(larger, staging.input(10));
            staging.output(1);
            staging.synchronize();
            staging.close();
            assertTrue(larger.isClosed());
            assertThrows(IllegalStateException.class, staging::synchronize);
        }
        assertEquals(List.of(false, true, false, true, false), uses.reused);
    }
}
