package dev.fovea.client;

import dev.fovea.v1.Frame;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The FrameStream behind {@link FoveaClient#stream}.
 *
 * <p>Outbound flow control: a frame is passed to {@code requests.onNext} only while {@code requests.isReady()}, and
 * a sender that finds the call not ready waits on {@link #ready}, which the onReady handler signals. The race
 * between the two: the transport can become ready right after a sender saw {@code isReady() == false} and before
 * it waits, and fire onReady then. That signal is not lost because the sender checks and starts waiting while
 * holding {@link #lock}, and the onReady handler takes the same lock before it signals: either the handler ran
 * first and the sender's check sees the call ready, or the sender is already waiting when the signal comes.
 *
 * <p>Inbound, gRPC's automatic flow control suffices: it asks for the next response only after the listener's
 * onResponse returned, so the listener's pace is the stream's pace and nothing piles up here.
 */
final class RealFrameStream implements FrameStream,
        ClientResponseObserver<StreamPredictRequest, StreamPredictResponse> {

    private final Listener listener;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition ready = lock.newCondition();
    private final CountDownLatch terminated = new CountDownLatch(1);
    /** The thread running a listener callback, where waiting for another callback would deadlock. */
    private volatile Thread callbackThread;

    // Guarded by lock.
    private ClientCallStreamObserver<StreamPredictRequest> requests;
    private boolean completed;
    private boolean cancelled;
    private Status finalStatus;

    private RealFrameStream(Listener listener) {
        this.listener = listener;
    }

    static RealFrameStream start(InferenceServiceGrpc.InferenceServiceStub stub, StreamOptions options,
            Listener listener) {
        RealFrameStream stream = new RealFrameStream(listener);
        stub.streamPredict(stream);
        stream.lock.lock();
        try {
            // The options go out whether or not the call is ready yet: one small message, sent once.
            stream.requests.onNext(StreamPredictRequest.newBuilder().setOptions(options).build());
        } finally {
            stream.lock.unlock();
        }
        return stream;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<StreamPredictRequest> requestStream) {
        requests = requestStream;
        requestStream.setOnReadyHandler(this::onReady);
    }

    private void onReady() {
        lock.lock();
        try {
            ready.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void send(Frame frame) throws InterruptedException {
        checkNotInCallback("send");
        lock.lockInterruptibly();
        try {
            checkSendable();
            while (!requests.isReady()) {
                ready.await();
                checkSendable();
            }
            requests.onNext(message(frame));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean trySend(Frame frame) {
        lock.lock();
        try {
            checkSendable();
            if (!requests.isReady()) {
                return false;
            }
            requests.onNext(message(frame));
            return true;
        } finally {
            lock.unlock();
        }
    }

    private static StreamPredictRequest message(Frame frame) {
        return StreamPredictRequest.newBuilder().setFrame(frame).build();
    }

    private void checkSendable() {
        if (cancelled) {
            throw new IllegalStateException("the stream was cancelled");
        }
        if (completed) {
            throw new IllegalStateException("the stream was completed");
        }
        if (finalStatus != null) {
            if (finalStatus.isOk()) {
                throw new IllegalStateException("the server already ended the stream");
            }
            throw finalStatus.asRuntimeException();
        }
    }

    private void checkNotInCallback(String method) {
        if (Thread.currentThread() == callbackThread) {
            throw new IllegalStateException(method + "() called from the stream's listener, where it would never"
                    + " return");
        }
    }

    @Override
    public void complete() {
        lock.lock();
        try {
            if (completed || cancelled || finalStatus != null) {
                return;
            }
            completed = true;
            requests.onCompleted();
            ready.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void cancel(String reason) {
        lock.lock();
        try {
            if (cancelled || finalStatus != null) {
                return;
            }
            cancelled = true;
            requests.cancel(reason, null);
            ready.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        checkNotInCallback("awaitTermination");
        return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    @Override
    public void onNext(StreamPredictResponse response) {
        callbackThread = Thread.currentThread();
        try {
            listener.onResponse(response);
        } finally {
            callbackThread = null;
        }
    }

    @Override
    public void onError(Throwable t) {
        end(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
        end(Status.OK);
    }

    private void end(Status status) {
        lock.lock();
        try {
            finalStatus = status;
            ready.signalAll();
        } finally {
            lock.unlock();
        }
        callbackThread = Thread.currentThread();
        try {
            listener.onClose(status);
        } finally {
            callbackThread = null;
            terminated.countDown();
        }
    }
}
