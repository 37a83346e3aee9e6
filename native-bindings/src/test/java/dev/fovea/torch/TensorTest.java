package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class TensorTest {

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"UINT8", "FLOAT32", "FLOAT16", "INT64"})
    void wrappedTensorReportsItsMetadata(DType dtype) {
        try (Arena arena = Arena.ofConfined();
                Tensor tensor = Tensor.wrap(arena.allocate(2L * 3 * 5 * dtype.byteSize(), 8), dtype, 2, 3, 5)) {
            assertEquals(dtype, tensor.dtype());
            assertArrayEquals(new long[] {2, 3, 5}, tensor.shape());
            assertEquals(Device.CPU, tensor.device());
            assertEquals(30, tensor.elementCount());
            assertEquals(30L * dtype.byteSize(), tensor.data().byteSize());
        }
    }

    @Test
    void copyToTheCpuOwnsItsDataAndKeepsTheValues() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment halfs = arena.allocate(JAVA_SHORT, 3);
            halfs.setAtIndex(JAVA_SHORT, 0, Float.floatToFloat16(1.5f));
            halfs.setAtIndex(JAVA_SHORT, 1, Float.floatToFloat16(-2f));
            halfs.setAtIndex(JAVA_SHORT, 2, Float.floatToFloat16(0.25f));
            try (Tensor view = Tensor.wrap(halfs, DType.FLOAT16, 3);
                    Tensor copy = view.to(Device.CPU)) {
                assertNotEquals(halfs.address(), copy.data().address());
                halfs.fill((byte) 0);
                assertEquals(1.5f, Float.float16ToFloat(copy.data().getAtIndex(JAVA_SHORT, 0)));
                assertEquals(-2f, Float.float16ToFloat(copy.data().getAtIndex(JAVA_SHORT, 1)));
                assertEquals(0.25f, Float.float16ToFloat(copy.data().getAtIndex(JAVA_SHORT, 2)));
            }
            MemorySegment longs = arena.allocateFrom(JAVA_LONG, Long.MAX_VALUE, -7, 0);
            try (Tensor view = Tensor.wrap(longs, DType.INT64, 3);
                    Tensor copy = view.to(Device.CPU)) {
                assertArrayEquals(new long[] {Long.MAX_VALUE, -7, 0}, copy.data().toArray(JAVA_LONG));
            }
        }
    }

    @Test
    void scalarAndEmptyTensorsAreAllowed() {
        try (Arena arena = Arena.ofConfined();
                Tensor scalar = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 3f), DType.FLOAT32);
                Tensor empty = Tensor.wrap(arena.allocate(0, 4), DType.FLOAT32, 0, 3)) {
            assertEquals(0, scalar.shape().length);
            assertEquals(1, scalar.elementCount());
            assertEquals(3f, scalar.data().get(JAVA_FLOAT, 0));
            assertEquals(0, empty.elementCount());
        }
    }

    @Test
    void dataIsReadOnly() {
        try (Arena arena = Arena.ofConfined();
                Tensor tensor = Tensor.wrap(arena.allocate(4), DType.UINT8, 4)) {
            assertTrue(tensor.data().isReadOnly());
            assertThrows(IllegalArgumentException.class, () -> tensor.data().set(JAVA_BYTE, 0, (byte) 1));
        }
    }

    @Test
    void heapMemoryCannotBeWrapped() {
        MemorySegment heap = MemorySegment.ofArray(new float[4]);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(heap, DType.FLOAT32, 4));
        assertTrue(e.getMessage().contains("native"), e.getMessage());
    }

    @Test
    void sizeMustMatchTheShape() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(4 * 10);
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(data, DType.FLOAT32, 3, 4));
            assertTrue(e.getMessage().contains("needs 48"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(data, DType.FLOAT32, -1, 10));
            assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(data, DType.FLOAT32, Long.MAX_VALUE, Long.MAX_VALUE));
        }
    }

    @Test
    void misalignedDataIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment shifted = arena.allocate(17, 8).asSlice(1);
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(shifted, DType.FLOAT32, 4));
            assertTrue(e.getMessage().contains("aligned"), e.getMessage());
        }
    }
}
