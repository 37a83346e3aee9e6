package dev.fovea.server.grpc;

import com.google.protobuf.Timestamp;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.serving.Answer;
import dev.fovea.server.serving.Dispatcher;
import dev.fovea.server.serving.InputCheck;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.tracing.RequestTrace;
import dev.fovea.v1.FrameError;
import dev.fovea.v1.FrameSkipped;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One StreamPredict call: the first message opens it with {@link StreamOptions}, every later one is a frame, answered
 * in arrival order ({@link OrderedStream}). Its own rule is admission: in every-frame mode each frame runs and the
 * client is held back by flow control; in latest-only mode frames are read as they come and a frame still waiting
 * when a newer one arrives is answered with {@code skipped}, so the model always runs the newest frame.
 *
 * <p>Model updates: a stream is bound to the model's name, not to one of its versions. Each frame runs on the version
 * that serves when it arrives (its response says which), so a stream goes on across a swap with no frame lost; the
 * frames the old version took finish there. When the model is unloaded, the first frame that finds it gone ends the
 * stream the way shutdown does, with UNAVAILABLE "model X was unloaded", after the accepted frames are answered.
 */
final class StreamSession extends OrderedStream<StreamPredictRequest, StreamPredictResponse> {

    /** Unanswered frames per stream in every-frame mode: one running, one queued behind it. */
    static final int MAX_PENDING = 2;
    /** In latest-only mode only skip notices pile up while the client is not reading; bound them too. */
    static final int MAX_PENDING_LATEST_ONLY = 64;

    private final Dispatcher dispatcher;
    private final Function<StreamPredictRequest, RequestImages.Memory> memoryOf;
    private final Supplier<PixelBudget> pixelBudget;

    /** A frame from arrival until its response is sent. */
    private static final class FrameSlot extends Slot<StreamPredictResponse> {
        final long frameId;
        final Timestamp captureTime;
        final long arrivalNanos = System.nanoTime();
        /** The version the frame runs on; holds a use on it from acceptance until the request is submitted. */
        ServedModel model;
        /** The frame's request while it waits (latest-only) to be submitted; the model owns it once submitted. */
        InferenceRequest request;
        RequestTrace trace = RequestTrace.NONE;

        FrameSlot(dev.fovea.v1.Frame frame) {
            this.frameId = frame.getFrameId();
            this.captureTime = frame.getCaptureTime();
        }
    }

    // Guarded by this.
    private StreamOptions options;
    /** Latest-only: the newest frame, waiting for the running one to finish. */
    private FrameSlot waiting;
    private int running;

    StreamSession(Dispatcher dispatcher, Function<StreamPredictRequest, RequestImages.Memory> memoryOf,
            Supplier<PixelBudget> pixelBudget, ServerCallStreamObserver<StreamPredictResponse> responses,
            NativeResponseMarshaller<StreamPredictResponse> marshaller, ShutdownDrain shutdownDrain) {
        super(responses, marshaller, shutdownDrain);
        this.dispatcher = dispatcher;
        this.memoryOf = memoryOf;
        this.pixelBudget = pixelBudget;
    }

    @Override
    int maxPending() {
        return options == null ? 0 : latestOnly() ? MAX_PENDING_LATEST_ONLY : MAX_PENDING;
    }

    @Override
    void discard(StreamPredictRequest message) {
        memoryOf.apply(message).arena().close();
    }

    @Override
    void accept(StreamPredictRequest message) {
        RequestImages.Memory memory = memoryOf.apply(message);
        if (options == null || !message.hasFrame()) {
            memory.arena().close(); // only a frame keeps its memory, as its request's
        }
        if (options == null) {
            open(message);
        } else if (message.hasFrame()) {
            accept(message.getFrame(), memory);
        } else {
            throw Statuses.invalid("options: sent twice; every message after the first must be a frame");
        }
    }

    private void open(StreamPredictRequest message) {
        if (!message.hasOptions()) {
            throw Statuses.invalid("options: the first message of a stream must carry StreamOptions");
        }
        StreamOptions requested = message.getOptions();
        if (requested.getMode() == StreamMode.UNRECOGNIZED) {
            throw Statuses.invalid("options.mode: unknown value " + requested.getModeValue());
        }
        dispatcher.model(requested.getModel(), "");
        options = requested;
    }

    private boolean latestOnly() {
        return options.getMode() == StreamMode.STREAM_MODE_LATEST_ONLY;
    }

    /** Takes ownership of {@code memory}, the frame's native memory. */
    private void accept(dev.fovea.v1.Frame message, RequestImages.Memory memory) {
        ServedModel model;
        try {
            model = dispatcher.acquire(options.getModel(), "");
        } catch (StatusRuntimeException e) {
            // The model was unloaded: this frame is not accepted, and the stream ends once the others are answered.
            memory.arena().close();
            stop(Status.UNAVAILABLE.withDescription("model " + ClientText.quote(options.getModel())
                    + " was unloaded"));
            return;
        }
        FrameSlot frame = new FrameSlot(message);
        frame.model = model;
        addSlot(frame);
        frame.trace = dispatcher.tracing().start("StreamPredict", model.name(), "", frame.arrivalNanos);
        try {
            if (!message.hasImage()) {
                throw Statuses.invalid("frame.image is not set");
            }
            List<InputImage> image = InputCheck.rows(model.spec(), List.of(
                    RequestImages.toInput(message.getImage(), "frame.image", memory, pixelBudget.get())));
            frame.request = Dispatcher.request(image, InferenceService.topK(options.getTopK()),
                    options.getIncludeOutputTensors(), memory.arena());
        } catch (RuntimeException e) {
            model.release();
            memory.arena().close();
            Status status = Statuses.of(e);
            dispatcher.finished(model.name(), status, frame.arrivalNanos);
            frame.trace.end(status);
            answer(frame, error(frame, status), null, RequestTrace.NONE);
            return;
        }
        if (!latestOnly() || running == 0) {
            submit(frame);
            return;
        }
        if (waiting != null) {
            waiting.model.release();
            waiting.request.memory().close();
            waiting.request = null;
            dispatcher.skipped(model.name());
            waiting.trace.end(Status.OK);
            answer(waiting, response(waiting).setSkipped(FrameSkipped.newBuilder()
                    .setSupersededBy(frame.frameId)).build(), null, RequestTrace.NONE);
        }
        waiting = frame;
    }

    private void submit(FrameSlot frame) {
        running++;
        InferenceRequest request = frame.request;
        frame.request = null; // the model owns its memory now
        dispatcher.submit(frame.model, request, frame.arrivalNanos, frame.trace, predictions -> new Answer<>(
                response(frame).setResult(Results.toWire(predictions.first())).build(), predictions, frame.trace))
                .whenComplete((answer, failure) -> finished(frame, answer, failure));
    }

    private synchronized void finished(FrameSlot frame, Answer<StreamPredictResponse> answer, Throwable failure) {
        running--;
        if (failure != null) {
            answer(frame, error(frame, Statuses.of(failure)), null, RequestTrace.NONE);
        } else {
            answer(frame, answer.response(), answer.predictions(), answer.trace());
        }
        if (waiting != null) {
            FrameSlot next = waiting;
            waiting = null;
            submit(next);
        }
    }

    /** The latest-only waiting frame is the one whose request this stream still holds. */
    @Override
    void released() {
        if (waiting != null) {
            waiting.model.release();
            waiting.request.memory().close();
            waiting.request = null;
            waiting.trace.end(Status.CANCELLED);
            waiting = null;
        }
    }

    private static StreamPredictResponse.Builder response(FrameSlot frame) {
        return StreamPredictResponse.newBuilder().setFrameId(frame.frameId).setCaptureTime(frame.captureTime)
                .setModelVersion(frame.model.version());
    }

    private static StreamPredictResponse error(FrameSlot frame, Status status) {
        return response(frame).setError(FrameError.newBuilder().setCode(status.getCode().value())
                .setMessage(String.valueOf(status.getDescription()))).build();
    }
}
