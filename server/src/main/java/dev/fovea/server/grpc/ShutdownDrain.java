package dev.fovea.server.grpc;

import dev.fovea.server.serving.Statuses;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * How the inference services stop: once {@link #begin} is called, calls that start get UNAVAILABLE, and every open
 * stream stops taking messages, answers the ones it took and then ends with UNAVAILABLE. Streams would otherwise be
 * served for the whole grace period and then cut, leaving the frames they had sent unanswered. {@link #awaitCalls}
 * tells when every inference call has ended: what else is still open then (health Watch streams, reflection) only
 * observes the server and never ends by itself, so the caller can cut it instead of waiting out the grace for it.
 *
 * <p>Thread-safe. Streams register when they start and unregister when they end, so the set holds exactly the open
 * streams (a stream's state is never left behind after it ends, however it ends).
 */
public final class ShutdownDrain {

    /** An open stream, as the drain sees it. */
    interface Stream {
        /** Stop asking for messages, answer the ones taken, then end the call with {@link Statuses#shuttingDown}. */
        void stopAccepting();
    }

    private final Set<Stream> open = new HashSet<>();
    /** Inference calls started and not yet complete or cancelled. */
    private int calls;
    private boolean draining;

    /** {@code service} with every call that starts after {@link #begin} refused with UNAVAILABLE. */
    ServerServiceDefinition refuseWhenDraining(ServerServiceDefinition service) {
        return ServerInterceptors.intercept(service, new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                if (!callStarted()) {
                    call.close(Statuses.shuttingDown(), new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                ServerCall.Listener<Q> listener;
                try {
                    listener = next.startCall(call, headers);
                } catch (RuntimeException e) {
                    callEnded();
                    throw e;
                }
                // gRPC ends every call with exactly one of onComplete and onCancel.
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onComplete() {
                        try {
                            super.onComplete();
                        } finally {
                            callEnded();
                        }
                    }

                    @Override
                    public void onCancel() {
                        try {
                            super.onCancel();
                        } finally {
                            callEnded();
                        }
                    }
                };
            }
        });
    }

    /** Counts a call that starts; false, counting nothing, if the drain has begun. */
    private synchronized boolean callStarted() {
        if (draining) {
            return false;
        }
        calls++;
        return true;
    }

    private synchronized void callEnded() {
        if (--calls == 0) {
            notifyAll();
        }
    }

    /**
     * Waits until no inference call is running, at most {@code timeoutMillis}; call after {@link #begin}. Returns
     * whether they all ended.
     */
    public synchronized boolean awaitCalls(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (calls > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }

    /**
     * Adds a stream that just started. Returns false, and adds nothing, if the drain has begun: the caller then stops
     * accepting at once (the drain began after the call was let in but before it got here).
     */
    synchronized boolean register(Stream stream) {
        if (draining) {
            return false;
        }
        open.add(stream);
        return true;
    }

    /** Forgets a stream that ended; harmless if it was never registered or already forgotten. */
    synchronized void unregister(Stream stream) {
        open.remove(stream);
    }

    /** Refuses new calls and tells every open stream to stop accepting. Returns at once; safe to call again. */
    public void begin() {
        List<Stream> streams;
        synchronized (this) {
            draining = true;
            streams = new ArrayList<>(open);
        }
        // Outside the lock: a stream that stops ends its call, which may unregister it on this thread.
        streams.forEach(Stream::stopAccepting);
    }

    /** Streams open now (started and not yet ended). */
    public synchronized int openStreams() {
        return open.size();
    }

}
