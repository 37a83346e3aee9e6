package dev.fovea.server.metrics;

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
import java.util.Optional;

/**
 * The bytes the process holds from the C library's allocator: libtorch's CPU tensors, requests parsed into native
 * memory, Netty's direct buffers. Read with glibc's {@code mallinfo2}, which walks every malloc arena under its lock,
 * so it is for scrapes, not hot paths. Absent on a C library without {@code mallinfo2} (musl, glibc before 2.33).
 */
final class NativeHeap {

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

    private final MethodHandle mallinfo2;
    /** {@code int malloc_trim(size_t pad)}; null where the C library has none. */
    private final MethodHandle mallocTrim;

    private NativeHeap(MethodHandle mallinfo2, MethodHandle mallocTrim) {
        this.mallinfo2 = mallinfo2;
        this.mallocTrim = mallocTrim;
    }

    /** The heap of this process, if the C library can report it. */
    static Optional<NativeHeap> ofThisProcess() {
        Linker linker = Linker.nativeLinker();
        MethodHandle mallocTrim = linker.defaultLookup().find("malloc_trim").map(address -> linker.downcallHandle(
                address, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG))).orElse(null);
        return linker.defaultLookup().find("mallinfo2").map(address -> new NativeHeap(
                linker.downcallHandle(address, FunctionDescriptor.of(MALLINFO2)), mallocTrim));
    }

    /**
     * Hands the free pages of every malloc arena back to the kernel. glibc returns only the free top of an arena by
     * itself, so the pages freed inside arenas after a burst of work (one arena per busy thread, up to eight per core)
     * otherwise stay resident for good. Walks and locks every arena: for idle times, not hot paths.
     */
    void trim() {
        if (mallocTrim == null) {
            return;
        }
        try {
            int ignored = (int) mallocTrim.invokeExact(0L); // 1 if some memory was released: nothing to act on
        } catch (Throwable e) {
            throw new IllegalStateException("malloc_trim failed", e);
        }
    }

    /** Bytes allocated with malloc and not yet freed, now. */
    long bytesInUse() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment info = (MemorySegment) mallinfo2.invokeExact((SegmentAllocator) call);
            return (long) IN_USE.get(info, 0L) + (long) MAPPED.get(info, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException("mallinfo2 failed", e);
        }
    }

    private static VarHandle field(String name) {
        return MALLINFO2.varHandle(MemoryLayout.PathElement.groupElement(name));
    }
}
