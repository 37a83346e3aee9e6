package dev.fovea.server.grpc;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.limits.ClientText;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;

/**
 * One ModelStreamInfer call (Triton's streaming extension): every request gets one response, in the order the
 * requests came (as Triton answers a model that is not decoupled: a fast error or a small request never overtakes an
 * earlier one); a failed request gets a response with {@code error_message} and the stream goes on.
 *
 * <p>Flow control, both ways: inbound auto-request is off and the next request is asked for only while fewer than
 * {@link #MAX_OUTSTANDING} requests are running or answered-but-unsent, so a client that sends faster than the model
 * runs, or stops reading, is held back by HTTP/2 flow control. Answers wait in {@code pending}, in request order,
 * until every earlier one is sent and the transport is ready; they go out from {@code onReady} too.
 *
 * <p>Threads: gRPC delivers onNext/onCompleted/onCancel serially, results complete on the response executor and
 * onReady comes from the transport; all state and every call on {@code responses} is guarded by {@code this}.
 *
 * <p>Shutdown ({@link ShutdownDrain}): no more requests are asked for, one that still arrives (asked for before) is
 * freed unanswered, every accepted request is answered, then the call ends with UNAVAILABLE.
 */
final class InferStream implements StreamObserver<ModelInferRequest>, ShutdownDrain.Stream {

    static final int MAX_OUTSTANDING = 4;

    private final OpenInferenceService service;
    private final ServerCallStreamObserver<ModelStreamInferResponse> responses;

    /** A response ready to send, with the output memory it views (null for errors). */
    private record Answer(ModelStreamInferResponse response, Predictions predictions) {}

    /** One request's place in the stream's order; its answer is null while the request runs. Guarded by this. */
    private static final class Slot {
        Answer answer;
    }

    // Guarded by this.
    private final ArrayDeque<Slot> pending = new ArrayDeque<>();
    private boolean awaitingMessage;
    private boolean clientDone;
    /** The server is stopping: no request is accepted any more. */
    private boolean stopping;
    private boolean finished;

    InferStream(OpenInferenceService service, ServerCallStreamObserver<ModelStreamInferResponse> responses) {
        this.service = service;
        this.responses = responses;
    }

    void start() {
        responses.disableAutoRequest();
        responses.setOnReadyHandler(this::drain);
        responses.setOnCancelHandler(this::cancelled);
        if (!service.shutdownDrain().register(this)) {
            stopAccepting();
            return;
        }
        awaitingMessage = true;
        responses.request(1);
    }

    @Override
    public synchronized void stopAccepting() {
        if (clientDone) {
            return; // every request has arrived and was accepted: the stream ends normally once they are answered
        }
        stopping = true;
        drain();
    }

    @Override
    public synchronized void onNext(ModelInferRequest request) {
        awaitingMessage = false;
        long start = System.nanoTime();
        RequestImages.Memory memory = service.memoryOf(request);
        if (finished || stopping) {
            memory.arena().close();
            return;
        }
        Slot slot = new Slot();
        pending.addLast(slot);
        OpenInferenceService.Submitted submitted;
        try {
            submitted = service.submit(request, memory);
        } catch (RuntimeException e) {
            memory.arena().close();
            Status status = Statuses.of(e);
            service.outcomes().finished(request.getModelName(), status, start);
            slot.answer = new Answer(error(request, status), null);
            drain();
            return;
        }
        submitted.result().whenCompleteAsync((predictions, failure) -> {
            ModelInferResponse response = null;
            if (failure == null) {
                try {
                    response = service.respond(request, submitted, predictions);
                } catch (RuntimeException e) {
                    failure = e;
                }
            }
            Status status = failure == null ? Status.OK : Statuses.of(failure);
            service.outcomes().finished(submitted.model().name(), status, start);
            finished(slot, response == null ? new Answer(error(request, status), null)
                    : new Answer(ModelStreamInferResponse.newBuilder().setInferResponse(response).build(),
                            predictions));
        }, service.responseExecutor());
        drain();
    }

    private synchronized void finished(Slot slot, Answer answer) {
        if (finished) {
            if (answer.predictions() != null) {
                answer.predictions().close();
            }
            return;
        }
        slot.answer = answer;
        drain();
    }

    /** Sends what the client can take, then asks for the next request if there is room. */
    private synchronized void drain() {
        if (finished) {
            return;
        }
        while (!pending.isEmpty() && pending.peekFirst().answer != null && responses.isReady()) {
            Answer answer = pending.removeFirst().answer;
            service.sendStreamResponse(responses, answer.response(), answer.predictions());
        }
        if (clientDone || stopping) {
            if (pending.isEmpty()) {
                end();
                if (clientDone) {
                    responses.onCompleted();
                } else {
                    responses.onError(Statuses.shuttingDown().asRuntimeException());
                }
            }
            return;
        }
        if (!awaitingMessage && pending.size() < MAX_OUTSTANDING && responses.isReady()) {
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

    /** Requests with the runner see the call's context as cancelled and are dropped; answers not sent are freed. */
    private synchronized void cancelled() {
        end();
        for (Slot slot : pending) {
            if (slot.answer != null && slot.answer.predictions() != null) {
                slot.answer.predictions().close();
            }
        }
        pending.clear();
    }

    /** The call is over (or about to be, by the caller): nothing more is sent and the drain forgets it. */
    private void end() {
        finished = true;
        service.shutdownDrain().unregister(this);
    }

    private static ModelStreamInferResponse error(ModelInferRequest request, Status status) {
        return ModelStreamInferResponse.newBuilder().setErrorMessage(status.getCode() + ": "
                + status.getDescription()).setInferResponse(ModelInferResponse.newBuilder()
                        .setModelName(ClientText.echoedValue(request.getModelName()))
                        .setModelVersion(ClientText.echoedValue(request.getModelVersion()))
                        .setId(ClientText.echoedValue(request.getId()))).build();
    }
}
