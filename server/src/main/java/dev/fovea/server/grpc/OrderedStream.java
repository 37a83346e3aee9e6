package dev.fovea.server.grpc;

import com.google.protobuf.Message;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.tracing.RequestTrace;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;

/**
 * A bidirectional inference stream that answers its messages in the order they came, with flow control both ways and
 * a clean end on shutdown: the part fovea.v1's StreamPredict ({@link StreamSession}) and the Open Inference Protocol's
 * ModelStreamInfer ({@link InferStream}) share. A subclass decides what a message is and when it runs; it gives each
 * message a {@link Slot} in arrival order, and answers leave from the head of that queue only, so a fast error or a
 * small request never overtakes an earlier one.
 *
 * <p>Flow control: inbound auto-request is off; the next message is asked for only while fewer than
 * {@link #maxPending()} messages are unanswered or unsent and the client is reading ({@code isReady}), so a client
 * that sends faster than the model runs, or stops reading, is held back by HTTP/2 flow control instead of filling
 * server memory. Answers go out from {@code onReady} too.
 *
 * <p>Threads: gRPC delivers onNext/onCompleted/onCancel serially, answers come from the threads that complete
 * requests, onReady from the transport; every state change and every call on {@code responses} happens under
 * {@code this} lock. onReady can fire between an {@code isReady()} that returned false and the moment we give up
 * sending: because it re-runs {@link #drain()} under the same lock, no ready signal is lost.
 *
 * <p>Shutdown ({@link ShutdownDrain}): no more messages are asked for; one that still arrives (asked for before, so
 * at most one) is freed unanswered; every accepted message is answered; then the call ends UNAVAILABLE, so the client
 * knows that exactly the messages it got answers for were run.
 *
 * @param <Q> the client's messages
 * @param <R> the server's answers
 */
abstract class OrderedStream<Q, R extends Message> implements StreamObserver<Q>, ShutdownDrain.Stream {

    /** One message's place in the stream's order; {@link #answer} is null until it is known. Guarded by the stream. */
    static class Slot<R> {
        private R answer;
        /** The memory {@code answer}'s bytes view until it is sent; null for answers without outputs. */
        private Predictions predictions;
        /** The trace to end once {@code answer} is sent; NONE for answers whose trace has ended already. */
        private RequestTrace trace = RequestTrace.NONE;

        final boolean answered() {
            return answer != null;
        }
    }

    private final ServerCallStreamObserver<R> responses;
    private final NativeResponseMarshaller<R> marshaller;
    private final ShutdownDrain shutdownDrain;

    // Guarded by this.
    private final ArrayDeque<Slot<R>> pending = new ArrayDeque<>();
    /** True while a request(1) is outstanding, so each message is asked for exactly once. */
    private boolean awaitingMessage;
    private boolean clientDone;
    /** No message is accepted any more (the server is stopping, or the subclass stopped the stream). */
    private boolean stopping;
    /** How the call ends once the accepted messages are answered, when it stopped accepting. */
    private Status endStatus = Statuses.shuttingDown();
    private boolean finished;

    OrderedStream(ServerCallStreamObserver<R> responses, NativeResponseMarshaller<R> marshaller,
            ShutdownDrain shutdownDrain) {
        this.responses = responses;
        this.marshaller = marshaller;
        this.shutdownDrain = shutdownDrain;
    }

    /** Takes {@code message}, which owns native memory from here on: adds its slot(s) and submits what may run. */
    abstract void accept(Q message);

    /** Frees the native memory of a message that arrived after the stream stopped accepting. */
    abstract void discard(Q message);

    /** The most unanswered or unsent messages before the next is asked for. */
    abstract int maxPending();

    /** Called under the lock once the call is cancelled, after unsent answers are freed: free what else is held. */
    void released() {}

    /** Called from the service method, before it returns, as gRPC requires for these handlers. */
    final void start() {
        responses.disableAutoRequest();
        responses.setOnReadyHandler(this::drain);
        responses.setOnCancelHandler(this::cancelled);
        if (!shutdownDrain.register(this)) {
            stopAccepting();
            return;
        }
        awaitingMessage = true;
        responses.request(1);
    }

    @Override
    public final synchronized void stopAccepting() {
        if (clientDone) {
            return; // every message has arrived and was accepted: the stream ends normally once they are answered
        }
        stop(Statuses.shuttingDown());
    }

    /** Accepts no more messages and ends the call with {@code status} once the accepted ones are answered. */
    final synchronized void stop(Status status) {
        stopping = true;
        endStatus = status;
        drain();
    }

    @Override
    public final synchronized void onNext(Q message) {
        awaitingMessage = false;
        if (finished || stopping) {
            discard(message);
            return;
        }
        try {
            accept(message);
        } catch (RuntimeException e) {
            fail(Statuses.of(e));
            return;
        }
        drain();
    }

    /** A new slot at the end of the stream's order. */
    final Slot<R> newSlot() {
        return addSlot(new Slot<>());
    }

    /** Puts {@code slot} (a subclass's own kind) at the end of the stream's order. */
    final <S extends Slot<R>> S addSlot(S slot) {
        pending.addLast(slot);
        return slot;
    }

    /**
     * Gives {@code slot} its answer, whose bytes view {@code predictions} (null for answers without outputs), and
     * sends what the client can take; {@code trace} ends once it is sent ({@link RequestTrace#NONE} for an answer
     * whose trace has ended: errors, skips). Once the call has ended the predictions are freed instead.
     */
    final synchronized void answer(Slot<R> slot, R answer, Predictions predictions, RequestTrace trace) {
        if (finished) {
            if (predictions != null) {
                predictions.close();
            }
            trace.end(Status.CANCELLED);
            return;
        }
        slot.answer = answer;
        slot.predictions = predictions;
        slot.trace = trace;
        drain();
    }

    /** Sends every answered message at the head of the queue that the client can take, then asks for more. */
    final synchronized void drain() {
        if (finished) {
            return;
        }
        while (!pending.isEmpty() && pending.peekFirst().answered() && responses.isReady()) {
            Slot<R> slot = pending.removeFirst();
            marshaller.send(responses, slot.answer, slot.predictions);
            slot.trace.end(Status.OK);
        }
        if (clientDone || stopping) {
            if (pending.isEmpty()) {
                end();
                if (clientDone) {
                    responses.onCompleted();
                } else {
                    responses.onError(endStatus.asRuntimeException());
                }
            }
            return;
        }
        if (!awaitingMessage && pending.size() < maxPending() && responses.isReady()) {
            awaitingMessage = true;
            responses.request(1);
        }
    }

    @Override
    public final synchronized void onError(Throwable clientError) {
        cancelled();
    }

    @Override
    public final synchronized void onCompleted() {
        clientDone = true;
        drain();
    }

    /**
     * Requests with a model see the call's context as cancelled and are dropped by it, which frees them; answers not
     * sent are freed here, and the subclass frees what it still holds.
     */
    private synchronized void cancelled() {
        end();
        for (Slot<R> slot : pending) {
            if (slot.predictions != null) {
                slot.predictions.close();
                slot.predictions = null;
            }
            slot.trace.end(Status.CANCELLED);
        }
        pending.clear();
        released();
    }

    /** Ends the call with {@code status}, freeing everything the stream holds. */
    final synchronized void fail(Status status) {
        cancelled();
        responses.onError(status.asRuntimeException());
    }

    /** The call is over (or about to be, by the caller): nothing more is sent and the drain forgets it. */
    private void end() {
        finished = true;
        shutdownDrain.unregister(this);
    }
}
