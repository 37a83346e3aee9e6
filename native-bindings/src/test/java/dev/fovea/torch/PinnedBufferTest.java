package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Staging buffers and the asynchronous copies through them, in their plain-memory form on a CPU-only libtorch. */
class PinnedBufferTest {

    @Test
    void isPinnedExactlyWhereCudaIs() {
        try (PinnedBuffer buffer = PinnedBuffer.allocate(1024)) {
            assertEquals(TorchRuntime.cudaAvailable(), buffer.isPinned());
            assertEquals(1024, buffer.byteSize());
            assertEquals(0, buffer.segment().address() % 64);
        }
    }

    @Test
    void viewsShareTheBuffersBytes() {
        try (PinnedBuffer buffer = PinnedBuffer.allocate(64);
                Tensor view = buffer.view(16, DType.FLOAT32, 2, 3)) {
            MemorySegment bytes = buffer.segment();
            for (int i = 0; i < 6; i++) {
                bytes.set(JAVA_FLOAT, 16 + 4L * i, i + 0.5f);
            }
            assertArrayEquals(new long[] {2, 3}, view.shape());
            assertArrayEquals(new float[] {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}, view.data().toArray(JAVA_FLOAT));
        }
    }

    @Test
    void aViewOutlivesItsBuffer() {
        PinnedBuffer buffer = PinnedBuffer.allocate(16);
        buffer.segment().set(JAVA_FLOAT, 0, 7f);
        Tensor view = buffer.view(0, DType.FLOAT32, 1);
        buffer.close();
        try (view) {
            assertEquals(7f, view.data().get(JAVA_FLOAT, 0));
        }
    }

    @Test
    void viewsThatDoNotFitAreRefused() {
        try (PinnedBuffer buffer = PinnedBuffer.allocate(16)) {
            NativeException tooBig = assertThrows(NativeException.class, () -> buffer.view(8, DType.FLOAT32, 3));
            assertEquals(NativeException.Kind.INVALID_ARGUMENT, tooBig.kind());
            assertTrue(tooBig.getMessage().contains("does not fit"), tooBig.getMessage());
            NativeException misaligned = assertThrows(NativeException.class, () -> buffer.view(2, DType.FLOAT32, 1));
            assertTrue(misaligned.getMessage().contains("multiple of the element size"), misaligned.getMessage());
            assertThrows(IllegalArgumentException.class, () -> buffer.view(-4, DType.FLOAT32, 1));
            assertThrows(IllegalArgumentException.class, () -> PinnedBuffer.allocate(0));
        }
    }

    @Test
    void anAllocationTooLargeForMemoryIsOutOfMemory() {
        NativeException e = assertThrows(NativeException.class, () -> PinnedBuffer.allocate(Long.MAX_VALUE / 2));
        assertEquals(NativeException.Kind.OUT_OF_MEMORY, e.kind(), e.getMessage());
    }

    @Test
    void useAfterCloseThrowsAndCloseTwiceIsHarmless() {
        PinnedBuffer buffer = PinnedBuffer.allocate(16);
        MemorySegment bytes = buffer.segment();
        buffer.close();
        buffer.close();
        assertTrue(buffer.isClosed());
        assertThrows(IllegalStateException.class, buffer::segment);
        assertThrows(IllegalStateException.class, () -> bytes.get(JAVA_FLOAT, 0));
        assertThrows(IllegalStateException.class, () -> buffer.view(0, DType.FLOAT32, 1));
    }

    @Test
    void asyncCopiesRoundTripThroughAStagingBuffer() {
        try (Arena arena = Arena.ofConfined();
                DeviceStream stream = DeviceStream.create(Device.CPU);
                PinnedBuffer in = PinnedBuffer.allocate(16);
                PinnedBuffer out = PinnedBuffer.allocate(16);
                Tensor staged = in.view(0, DType.FLOAT32, 4);
                Tensor result = out.view(0, DType.FLOAT16, 4)) {
            stream.makeCurrent();
            in.segment().copyFrom(arena.allocateFrom(JAVA_FLOAT, 1f, 2f, 3f, 4f));
            try (Tensor onDevice = staged.toAsync(Device.CPU)) {
                onDevice.copyAsync(result);
            }
            stream.synchronize();
            short[] halves = result.data().toArray(java.lang.foreign.ValueLayout.JAVA_SHORT);
            for (int i = 0; i < 4; i++) {
                assertEquals(i + 1f, Float.float16ToFloat(halves[i]));
            }
        }
    }

    @Test
    void copyIntoAnotherShapeIsRefused() {
        try (PinnedBuffer buffer = PinnedBuffer.allocate(64);
                Tensor source = buffer.view(0, DType.FLOAT32, 4);
                Tensor destination = buffer.view(16, DType.FLOAT32, 2, 2)) {
            NativeException e = assertThrows(NativeException.class, () -> source.copyAsync(destination));
            assertEquals(NativeException.Kind.INVALID_ARGUMENT, e.kind());
            assertTrue(e.getMessage().contains("shape"), e.getMessage());
            destination.close();
            assertThrows(IllegalStateException.class, () -> source.copyAsync(destination));
        }
    }
}
