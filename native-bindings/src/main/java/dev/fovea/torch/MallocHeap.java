package dev.fovea.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The C library's heap of this process: where libtorch's CPU tensors and modules, requests parsed into native memory
 * and direct buffers live. Read with glibc's {@code mallinfo2}, which walks every malloc arena under its lock, and
 * trimmed with {@code malloc_trim}: both are for scrapes, idle times and tests, not hot paths. Unlike the resident set
 * size, the byte count does not move with the allocator's caching, the Java heap or page reclaim, so a leak check on it
 * needs few iterations. Absent on a C library without them (musl, glibc before 2.33).
 */
public final class MallocHeap {

    /** {@code struct mallinfo2}: ten {@code size_t} fields. */
    private static final StructLayout MALLINFO2 = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("arena"), ValueLayout.JAVA_LONG.withName("ordblks"),
            ValueLayout.JAVA_LONG.withName("smblks"), ValueLayout.JAVA_LONG.withName("hblks"),
            ValueLayout.JAVA_LONG.withName("hblkhd"), ValueLayout.JAVA_LONG.withName("usmblks"),
            ValueLayout.JAVA_LONG.withName("fsmblks"), ValueLayout.JAVA_LONG.withName("uordblks"),
            ValueLayout.JAVA_LONG.withName("fordblks"), ValueLayout.JAVA_LONG.withName("keepcost"));
    /** Bytes in chunks malloc handed out from its arenas. */
    private static final VarHandle IN_USE = field("uordblks");
    /** Bytes in large allocations malloc mapped separately. */
    private static final VarHandle MAPPED = field("hblkhd");
    /** {@code struct mallinfo2 mallinfo2(void)}; null where the C library has none. */
    private static final MethodHandle MALLINFO2_CALL = Linker.nativeLinker().defaultLookup().find("mallinfo2")
            .map(address -> Linker.nativeLinker().downcallHandle(address, FunctionDescriptor.of(MALLINFO2)))
            .orElse(null);
    /** {@code int malloc_trim(size_t pad)}; null where the C library has none. */
    private static final MethodHandle MALLOC_TRIM = Linker.nativeLinker().defaultLookup().find("malloc_trim")
            .map(address -> Linker.nativeLinker().downcallHandle(address,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
            .orElse(null);

    private MallocHeap() {}

    /** Whether the C library reports its heap ({@link #bytesInUse} works). */
    public static boolean available() {
        return MALLINFO2_CALL != null;
    }

    /**
     * Bytes allocated with malloc and not yet freed, now.
     *
     * @throws IllegalStateException if the C library cannot report it (see {@link #available})
     */
    public static long bytesInUse() {
        if (MALLINFO2_CALL == null) {
            throw new IllegalStateException("the C library has no mallinfo2");
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment info = (MemorySegment) MALLINFO2_CALL.invokeExact((SegmentAllocator) call);
            return (long) IN_USE.get(info, 0L) + (long) MAPPED.get(info, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException("mallinfo2 failed", e);
        }
    }

    /**
     * Hands the free pages of every malloc arena back to the kernel; nothing where the C library has no
     * {@code malloc_trim}. glibc returns only the free top of an arena by itself, so the pages freed inside arenas after
     * a burst of work (one arena per busy thread, up to eight per core) otherwise stay resident for good.
     */
    public static void trim() {
        if (MALLOC_TRIM == null) {
            return;
        }
        try {
            int ignored = (int) MALLOC_TRIM.invokeExact(0L); // 1 if some memory was released: nothing to act on
        } catch (Throwable e) {
            throw new IllegalStateException("malloc_trim failed", e);
        }
    }

    private static VarHandle field(String name) {
        return MALLINFO2.varHandle(MemoryLayout.PathElement.groupElement(name));
    }
}
