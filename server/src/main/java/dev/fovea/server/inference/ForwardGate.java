package dev.fovea.server.inference;

import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

/**
 * When one {@link ModelInstance}'s staged batches enter forward: one batch in forward at a time, one staged batch
 * waiting for it (the pending one), and a forward starts only while at most one finished batch waits for the
 * postprocess thread beside the one it runs. The pending batch is started by whichever thread makes room (usually the
 * one whose forward just ended), so the next forward starts without waking the instance's worker; the worker only
 * waits, off that path, until its batch has entered forward before it stages another.
 *
 * <p>Threads: every method may be called from any of the instance's threads; the state is guarded by one lock, never
 * held while a batch starts.
 */
final class ForwardGate {

    private final Predicate<StagedBatch> start;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Guarded by {@link #lock}. */
    private StagedBatch pending;
    /** Guarded by {@link #lock}. */
    private boolean inForward;
    /** Batches whose forward ended and whose postprocess has not; guarded by {@link #lock}. */
    private int postprocessing;

    /**
     * @param start starts a batch's forward, returning false if the batch ended instead (no live job left, or forward
     *     could not start); called without the lock, at most one batch in forward at a time
     */
    ForwardGate(Predicate<StagedBatch> start) {
        this.start = Objects.requireNonNull(start, "start");
    }

    /**
     * Makes {@code batch} the pending one, starts it here if there is room, and returns once it has entered forward
     * (or ended). The worker calls this, one batch at a time.
     */
    void enter(StagedBatch batch) {
        lock.lock();
        try {
            pending = batch;
        } finally {
            lock.unlock();
        }
        startPending();
        lock.lock();
        try {
            while (pending == batch) {
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    /** A forward ended: its batch now waits for the postprocess thread, and the pending batch may start here. */
    void forwardEnded() {
        lock.lock();
        try {
            inForward = false;
            postprocessing++;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        startPending();
    }

    /** A batch's postprocess ended: the pending batch may start here if it waited for that. */
    void postprocessEnded() {
        lock.lock();
        try {
            postprocessing--;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        startPending();
    }

    /** Waits until no batch is pending, in forward or in postprocess. */
    void awaitIdle() {
        lock.lock();
        try {
            while (pending != null || inForward || postprocessing > 0) {
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    private void startPending() {
        while (true) {
            StagedBatch next;
            lock.lock();
            try {
                if (pending == null || inForward || postprocessing > 1) {
                    return;
                }
                next = pending;
                pending = null;
                inForward = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            if (start.test(next)) {
                return;
            }
            lock.lock();
            try {
                inForward = false;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }
}
