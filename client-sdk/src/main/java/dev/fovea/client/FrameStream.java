package dev.fovea.client;

import dev.fovea.v1.Frame;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;

/**
 * One StreamPredict call, from {@link FoveaClient#stream}: frames go out through {@link #send} or {@link #trySend},
 * responses come back to the {@link Listener} as soon as each arrives, in frame order.
 *
 * <p>Sending respects gRPC flow control: a frame is handed to the transport only while the call is ready, so a
 * sender faster than the server is slowed down (every-frame mode) instead of queueing frames in memory without
 * bound. Use {@link #send} to wait for room, {@link #trySend} to drop a frame when there is none (live video).
 *
 * <p>Receiving: the next response is read only after {@link Listener#onResponse} returned, so a slow listener slows
 * the server's responses on this stream (and, through them, the stream itself) instead of piling them up.
 *
 * <p>The caller ends the stream: {@link #complete()} once the last frame is sent, then waits for the remaining
 * responses, or {@link #cancel} to stop at once. Every method is thread-safe.
 */
public interface FrameStream {

    /**
     * Waits until the call can take a frame without buffering it, then sends it. Must not be called from the
     * listener (the wait ends on a signal delivered on the listener's thread): use {@link #trySend} there.
     *
     * @throws IllegalStateException after {@link #complete()} or {@link #cancel}, when called from the listener, or
     *     when the server already ended the stream successfully
     * @throws StatusRuntimeException carrying the final status when the stream failed (also while waiting)
     * @throws InterruptedException when interrupted while waiting; the frame was not sent
     */
    void send(Frame frame) throws InterruptedException;

    /**
     * Sends the frame if the call can take it now; returns false, sending nothing, when it cannot.
     *
     * @throws IllegalStateException after {@link #complete()} or {@link #cancel}, or when the server already ended
     *     the stream successfully
     * @throws StatusRuntimeException carrying the final status when the stream failed
     */
    boolean trySend(Frame frame);

    /**
     * Tells the server that no more frames follow; it answers the frames it has and ends the stream, which
     * {@link Listener#onClose} reports. Does nothing if the stream was already completed, cancelled or ended.
     */
    void complete();

    /**
     * Cancels the call: frames not answered yet are dropped and {@link Listener#onClose} receives CANCELLED with
     * {@code reason}. Does nothing if the stream was already cancelled or ended.
     */
    void cancel(String reason);

    /**
     * Waits until the stream has ended and {@link Listener#onClose} has returned.
     *
     * @return false if {@code timeout} passed first
     * @throws IllegalStateException when called from the listener, where it could never return
     */
    boolean awaitTermination(Duration timeout) throws InterruptedException;

    /**
     * Receives a stream's responses and its end. Calls come one at a time, in order, on the channel's executor;
     * they should return quickly. An exception thrown from {@link #onResponse} cancels the stream.
     */
    interface Listener {

        /** One frame's response: a result, a skip (latest-only mode) or that frame's error. */
        void onResponse(StreamPredictResponse response);

        /**
         * The stream ended: OK after the server answered every frame of a completed stream; otherwise why it
         * failed (e.g. NOT_FOUND for an unknown model, CANCELLED after {@link FrameStream#cancel}). Called once,
         * last.
         */
        void onClose(Status status);
    }
}
