package dev.fovea.torch;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The native object behind one Java owner ({@link TorchModule}, {@link Tensor}), freed exactly once by its C free
 * function.
 *
 * <p>Ownership: the owner's {@code close()} calls {@link #close()}; if the owner is dropped unclosed, a
 * {@link Cleaner} frees the object after the owner becomes unreachable. Calls into native code bracket their use with
 * {@link #acquire()} and {@link #release()}: a close that races with such a call only marks the handle closed, and the
 * last release frees it, so native code never sees a freed pointer. Acquiring a closed handle throws
 * {@link IllegalStateException}. The owner must stay reachable until release (the callers use
 * {@code Reference.reachabilityFence}), otherwise the Cleaner could free the object mid-call.
 *
 * <p>Thread-safe. The free function runs on the thread of the last close/release, or on the Cleaner's thread.
 */
final class NativeHandle {

    private static final Cleaner CLEANER = Cleaner.create();
    private static final long CLOSED = 1;
    private static final long ONE_USE = 2;

    private final MemorySegment address;
    private final String description;
    /** Twice the number of calls in flight, plus {@link #CLOSED} once closed. */
    private final AtomicLong state = new AtomicLong();
    private final Cleaner.Cleanable free;

    /**
     * Takes ownership of {@code address}. {@code freeFunction} must not refer to {@code owner}, or the owner could
     * never become unreachable; the C free functions passed as static method references never do.
     */
    NativeHandle(Object owner, MemorySegment address, Consumer<MemorySegment> freeFunction, String description) {
        this.address = address;
        this.description = description;
        this.free = CLEANER.register(owner, new Free(address, freeFunction));
    }

    /** Returns the native pointer for one call; pair with {@link #release()} in a finally block. */
    MemorySegment acquire() {
        long previous = state.getAndAdd(ONE_USE);
        if ((previous & CLOSED) != 0) {
            release();
            throw new IllegalStateException(description + " is closed");
        }
        return address;
    }

    void release() {
        if (state.addAndGet(-ONE_USE) == CLOSED) {
            free.clean();
        }
    }

    /** Marks the handle closed and frees it now or when the last call in flight releases it. Idempotent. */
    void close() {
        long previous = state.getAndUpdate(value -> value | CLOSED);
        if (previous == 0) {
            free.clean();
        }
    }

    boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /** The Cleaner's action: holds only the pointer and the function, never the owner. */
    private record Free(MemorySegment address, Consumer<MemorySegment> function) implements Runnable {
        @Override
        public void run() {
            function.accept(address);
        }
    }
}
