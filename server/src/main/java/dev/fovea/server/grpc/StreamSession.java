package dev.fovea.server.grpc;

import com.google.protobuf.Timestamp;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.v1.Frame;
import dev.fovea.v1.FrameError;
import dev.fovea.v1.FrameSkipped;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Optional;

/**
 * One StreamPredict call. Frames are answered strictly in arrival order: each frame gets a slot in {@code pending}
 * the moment it arrives, and responses leave from the head of that queue only.
 *
 * <p>Flow control, both ways. Inbound auto-request is off: the session asks gRPC for the next frame only while fewer
 * than {@link #MAX_PENDING} frames are unanswered and the client is reading responses ({@code isReady}), so a client
 * that sends faster than the model runs (every-frame mode) or stops reading is held back by HTTP/2 flow control
 * instead of filling server memory. In latest-only mode frames are read as they come and a frame still waiting when a
 * newer one arrives is answered with {@code skipped}, so the model always runs the newest frame.
 *
 * <p>Threads: gRPC delivers onNext/onCompleted/onCancel serially, but results complete on the response executor and
 * onReady comes from the transport; every state change and every call on {@code responses} happens under
 * {@code this} lock. onReady can fire between an {@code isReady()} check that returned false and the moment we give
 * up sending: because onReady re-runs {@link #drain()} under the same lock, no ready signal is lost.
 *
 * <p>Shutdown ({@link ShutdownDrain}): the session asks for no more frames, frees any that still arrive (asked for
 * before, so at most one) without answering them, answers every frame it accepted, then ends the call with
 * UNAVAILABLE, so the client knows that exactly the frames it got answers for were run.
 *
 * <p>Model updates: a stream is bound to the model's name, not to one of its versions. Each frame runs on the version
 * that serves when it arrives (its response says which), so a stream goes on across a swap with no frame lost; the
 * frames the old version took finish there. When the model is unloaded, the first frame that finds it gone ends the
 * stream the way shutdown does, with UNAVAILABLE "model X was unloaded", after the accepted frames are answered.
 */
final class StreamSession implements StreamObserver<StreamPredictRequest>, ShutdownDrain.Stream {

    /** Unanswered frames per stream in every-frame mode: one running, one queued behind it. */
    static final int MAX_PENDING = 2;
    /** In latest-only mode only skip notices pile up while the client is not reading; bound them too. */
    static final int MAX_PENDING_LATEST_ONLY = 64;

    private final InferenceService service;
    private final ServerCallStreamObserver<StreamPredictResponse> responses;

    /** A frame from arrival until its response is sent. */
    private static final class Slot {
        final long frameId;
        final Timestamp captureTime;
        final long arrivalNanos = System.nanoTime();
        /** The version the frame runs on; holds a use on it from acceptance until the request is submitted. */
        ServedModel model;
        InferenceRequest request;
        StreamPredictResponse response;
        /** The memory {@code response}'s raw outputs view, until it is sent; null for errors and skips. */
        Predictions predictions;

        Slot(Frame frame) {
            this.frameId = frame.getFrameId();
            this.captureTime = frame.getCaptureTime();
        }
    }

    // All fields below are guarded by this.
    private StreamOptions options;
    /** How the stream ends once its frames are answered, when it stops taking frames. */
    private Status endStatus = Statuses.shuttingDown();
    private final ArrayDeque<Slot> pending = new ArrayDeque<>();
    /** Latest-only: the newest frame, waiting for the running one to finish. */
    private Slot waiting;
    private int running;
    /** True while a request(1) is outstanding, so each message is asked for exactly once. */
    private boolean awaitingMessage;
    private boolean clientDone;
    /** The server is stopping: no frame is accepted any more. */
    private boolean stopping;
    private boolean finished;

    StreamSession(InferenceService service, ServerCallStreamObserver<StreamPredictResponse> responses) {
        this.service = service;
        this.responses = responses;
    }

    /** Called from the service method, before it returns, as gRPC requires for these handlers. */
    void start() {
        responses.disableAutoRequest();
        responses.setOnReadyHandler(this::drain);
        responses.setOnCancelHandler(this::cancelled);
        if (!service.shutdownDrain().register(this)) {
            stopAccepting();
            return;
        }
        awaitingMessage = true;
        responses.request(1); // the options
    }

    @Override
    public synchronized void stopAccepting() {
        if (clientDone) {
            return; // every frame has arrived and was accepted: the stream ends normally once they are answered
        }
        stopping = true;
        drain();
    }

    @Override
    public synchronized void onNext(StreamPredictRequest message) {
        awaitingMessage = false;
        RequestImages.Memory memory = service.memoryOf(message);
        if (finished || stopping || !message.hasFrame() || options == null) {
            // Only an accepted frame keeps its memory, as its request's.
            memory.arena().close();
        }
        if (finished || stopping) {
            return;
        }
        try {
            if (options == null) {
                open(message);
            } else if (message.hasFrame()) {
                accept(message.getFrame(), memory);
            } else {
                throw Statuses.invalid("options: sent twice; every message after the first must be a frame");
            }
        } catch (RuntimeException e) {
            fail(Statuses.of(e));
            return;
        }
        drain();
    }

    private void open(StreamPredictRequest message) {
        if (!message.hasOptions()) {
            throw Statuses.invalid("options: the first message of a stream must carry StreamOptions");
        }
        StreamOptions requested = message.getOptions();
        if (requested.getMode() == StreamMode.UNRECOGNIZED) {
            throw Statuses.invalid("options.mode: unknown value " + requested.getModeValue());
        }
        InferenceService.servedModel(service.repository(), requested.getModel(), "");
        options = requested;
    }

    private boolean latestOnly() {
        return options.getMode() == StreamMode.STREAM_MODE_LATEST_ONLY;
    }

    /** Takes ownership of {@code memory}, the frame's native memory. */
    private void accept(Frame frame, RequestImages.Memory memory) {
        Optional<ServedModel> current = service.repository().acquire(options.getModel(), "");
        if (current.isEmpty()) {
            // The model was unloaded: this frame is not accepted, and the stream ends once the others are answered.
            memory.arena().close();
            endStatus = Status.UNAVAILABLE.withDescription("model " + ClientText.quote(options.getModel())
                    + " was unloaded");
            stopping = true;
            return;
        }
        ServedModel model = current.get();
        Slot slot = new Slot(frame);
        slot.model = model;
        pending.addLast(slot);
        try {
            if (!frame.hasImage()) {
                throw Statuses.invalid("frame.image is not set");
            }
            List<InputImage> image = DeclaredInputs.rows(model, List.of(
                    RequestImages.toInput(frame.getImage(), "frame.image", memory, service.pixelBudget())));
            slot.request = InferenceService.newRequest(image, options.getTopK(),
                    options.getIncludeOutputTensors(), memory.arena());
        } catch (RuntimeException e) {
            model.release();
            memory.arena().close();
            Status status = Statuses.of(e);
            service.outcomes().finished(model.name(), status, slot.arrivalNanos);
            slot.response = error(slot, status);
            return;
        }
        if (!latestOnly() || running == 0) {
            submit(slot);
            return;
        }
        if (waiting != null) {
            waiting.model.release();
            waiting.request.memory().close();
            waiting.request = null;
            waiting.response = response(waiting).setSkipped(FrameSkipped.newBuilder()
                    .setSupersededBy(slot.frameId)).build();
            service.outcomes().skipped(model.name());
        }
        waiting = slot;
    }

    private void submit(Slot slot) {
        running++;
        InferenceRequest request = slot.request;
        slot.request = null; // the runner owns its memory now
        InferenceService.submit(slot.model, request).whenCompleteAsync(
                (predictions, failure) -> finished(slot, predictions, failure), service.responseExecutor());
    }

    private synchronized void finished(Slot slot, Predictions predictions, Throwable failure) {
        running--;
        Status status = failure == null ? Status.OK : Statuses.of(failure);
        service.outcomes().finished(slot.model.name(), status, slot.arrivalNanos);
        if (finished) {
            if (predictions != null) {
                predictions.close();
            }
            return;
        }
        if (failure != null) {
            slot.response = error(slot, status);
        } else {
            slot.response = response(slot).setModelVersion(slot.model.version())
                    .setResult(Results.toWire(predictions.first())).build();
            slot.predictions = predictions;
        }
        if (waiting != null) {
            Slot next = waiting;
            waiting = null;
            submit(next);
        }
        drain();
    }

    /** Sends every answered frame at the head of the queue that the client can take, then asks for more frames. */
    private synchronized void drain() {
        if (finished) {
            return;
        }
        while (!pending.isEmpty() && pending.peekFirst().response != null && responses.isReady()) {
            Slot slot = pending.removeFirst();
            service.sendFrame(responses, slot.response, slot.predictions);
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
        int limit = options == null ? 0 : latestOnly() ? MAX_PENDING_LATEST_ONLY : MAX_PENDING;
        if (options != null && pending.size() < limit && responses.isReady() && !awaitingMessage) {
            awaitingMessage = true;
            responses.request(1);
        }
    }

    @Override
    public synchronized void onError(Throwable clientError) {
        cancelled();
    }

    @Override
    public synchronized void onCompleted() {
        clientDone = true;
        drain();
    }

    private synchronized void cancelled() {
        end();
        // Frames already with the runner see the call's context as cancelled and are dropped by it, which frees
        // them; the ones still here (the latest-only waiting frame) are freed now.
        waiting = null;
        for (Slot slot : pending) {
            if (slot.request != null) {
                slot.model.release();
                slot.request.memory().close();
                slot.request = null;
            }
            if (slot.predictions != null) {
                slot.predictions.close();
                slot.predictions = null;
            }
        }
        pending.clear();
    }

    /** The call is over (or about to be, by the caller): nothing more is sent and the drain forgets it. */
    private void end() {
        finished = true;
        service.shutdownDrain().unregister(this);
    }

    private void fail(Status status) {
        cancelled();
        responses.onError(status.asRuntimeException());
    }

    private static StreamPredictResponse.Builder response(Slot slot) {
        return StreamPredictResponse.newBuilder().setFrameId(slot.frameId).setCaptureTime(slot.captureTime);
    }

    private static StreamPredictResponse error(Slot slot, Status status) {
        return response(slot).setModelVersion(slot.model.version()).setError(FrameError.newBuilder()
                .setCode(status.getCode().value())
                .setMessage(String.valueOf(status.getDescription()))).build();
    }
}
