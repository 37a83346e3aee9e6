package dev.fovea.server.grpc;

import dev.fovea.server.TestServer;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** One StreamPredict call that sends its options and frames at once and waits for its end. */
final class OneStream {

    private OneStream() {}

    /**
     * The responses to {@code frames} (ids 0, 1, ...), in order.
     *
     * @throws ExecutionException with the call's status if the stream failed
     */
    static List<StreamPredictResponse> run(TestServer server, StreamOptions options, Image... frames)
            throws InterruptedException, ExecutionException, TimeoutException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        List<StreamPredictResponse> responses = new CopyOnWriteArrayList<>();
        StreamObserver<StreamPredictRequest> requests = server.async().streamPredict(new StreamObserver<>() {
            @Override
            public void onNext(StreamPredictResponse response) {
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
        requests.onNext(StreamPredictRequest.newBuilder().setOptions(options).build());
        for (int i = 0; i < frames.length; i++) {
            requests.onNext(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(i)
                    .setImage(frames[i])).build());
        }
        requests.onCompleted();
        done.get(60, TimeUnit.SECONDS);
        return responses;
    }
}
