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
 * Bytes this process holds from glibc's malloc (its {@code mallinfo2} counters): what libtorch allocates for modules
 * and tensors. Unlike the resident set size it does not move with the allocator's caching, the Java heap or page
 * reclaim, so a leak check on it needs few iterations instead of enough to rise above that noise.
 */
final class MallocHeap {

    /** {@code struct mallinfo2}: ten {@code size_t} fields. */
    private static final StructLayout MALLINFO2 = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("arena"), ValueLayout.JAVA_LONG.withName("ordblks"),
            ValueLayout.JAVA_LONG.withName("smblks"), ValueLayout.JAVA_LONG.withName("hblks"),
            ValueLayout.JAVA_LONG.withName("hblkhd"), ValueLayout.JAVA_LONG.withName("usmblks"),
            ValueLayout.JAVA_LONG.withName("fsmblks"), ValueLayout.JAVA_LONG.withName("uordblks"),
            ValueLayout.JAVA_LONG.withName("fordblks"), ValueLayout.JAVA_LONG.withName("keepcost"));
    private static final VarHandle IN_ARENAS = field("uordblks");
    private static final VarHandle MAPPED = field("hblkhd");
    private static final MethodHandle MALLINFO2_CALL = Linker.nativeLinker().defaultLookup().find("mallinfo2")
            .map(address -> Linker.nativeLinker().downcallHandle(address, FunctionDescriptor.of(MALLINFO2)))
            .orElse(null);

    private MallocHeap() {}

    /** Whether the C library reports its heap (glibc 2.33 and later). */
    static boolean available() {
        return MALLINFO2_CALL != null;
    }

    /** Bytes allocated with malloc and not yet freed. */
    static long bytesInUse() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment info = (MemorySegment) MALLINFO2_CALL.invokeExact((SegmentAllocator) call);
            return (long) IN_ARENAS.get(info, 0L) + (long) MAPPED.get(info, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException("mallinfo2 failed", e);
        }
    }

    private static VarHandle field(String name) {
        return MALLINFO2.varHandle(MemoryLayout.PathElement.groupElement(name));
    }
}
