package dev.fovea.server.grpc;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.tracing.RequestTrace;
import dev.fovea.server.serving.Statuses;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.function.Function;

/**
 * One ModelStreamInfer call (Triton's streaming extension): every request runs as it comes and gets one response, in
 * the order the requests came, as Triton answers a model that is not decoupled; a failed request gets a response with
 * {@code error_message} and the stream goes on. Order, flow control and shutdown: {@link OrderedStream}.
 */
final class InferStream extends OrderedStream<ModelInferRequest, ModelStreamInferResponse> {

    /** Requests running or answered-but-unsent before the next is read. */
    static final int MAX_OUTSTANDING = 4;

    private final OipInference inference;
    private final Function<ModelInferRequest, RequestImages.Memory> memoryOf;

    InferStream(OipInference inference, Function<ModelInferRequest, RequestImages.Memory> memoryOf,
            ServerCallStreamObserver<ModelStreamInferResponse> responses,
            NativeResponseMarshaller<ModelStreamInferResponse> marshaller, ShutdownDrain shutdownDrain) {
        super(responses, marshaller, shutdownDrain);
        this.inference = inference;
        this.memoryOf = memoryOf;
    }

    @Override
    int maxPending() {
        return MAX_OUTSTANDING;
    }

    @Override
    void discard(ModelInferRequest request) {
        memoryOf.apply(request).arena().close();
    }

    @Override
    void accept(ModelInferRequest request) {
        Slot<ModelStreamInferResponse> slot = newSlot();
        inference.infer(request, memoryOf.apply(request), System.nanoTime(), "ModelStreamInfer")
                .whenComplete((answer, failure) -> {
                    if (failure != null) {
                        answer(slot, error(request, Statuses.of(failure)), null, RequestTrace.NONE);
                    } else {
                        answer(slot, ModelStreamInferResponse.newBuilder().setInferResponse(answer.response())
                                .build(), answer.predictions(), answer.trace());
                    }
                });
    }

    private static ModelStreamInferResponse error(ModelInferRequest request, Status status) {
        return ModelStreamInferResponse.newBuilder().setErrorMessage(status.getCode() + ": "
                + status.getDescription()).setInferResponse(ModelInferResponse.newBuilder()
                        .setModelName(ClientText.echoedValue(request.getModelName()))
                        .setModelVersion(ClientText.echoedValue(request.getModelVersion()))
                        .setId(ClientText.echoedValue(request.getId()))).build();
    }
}
