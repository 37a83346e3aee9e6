package dev.fovea.server.grpc;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import io.grpc.Channel;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** One ModelStreamInfer call that sends its requests at once, half-closes and waits for its end. */
final class OneInferStream {

    private OneInferStream() {}

    /**
     * The responses, in the order they came.
     *
     * @throws ExecutionException with the call's status if the stream failed
     */
    static List<ModelStreamInferResponse> run(Channel channel, List<ModelInferRequest> requests)
            throws InterruptedException, ExecutionException, TimeoutException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        List<ModelStreamInferResponse> responses = new CopyOnWriteArrayList<>();
        StreamObserver<ModelInferRequest> sender = GRPCInferenceServiceGrpc.newStub(channel)
                .modelStreamInfer(new StreamObserver<>() {
                    @Override
                    public void onNext(ModelStreamInferResponse response) {
                        responses.add(response);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(null);
                    }
                });
        requests.forEach(sender::onNext);
        sender.onCompleted();
        done.get(60, TimeUnit.SECONDS);
        return responses;
    }
}
