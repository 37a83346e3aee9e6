package dev.fovea.server;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.function.IntFunction;

/**
 * A client stream that sends messages for as long as the call takes them (whenever it is ready, never half-closing)
 * and records every response and how the call ended: what a camera does to a server that is being stopped.
 */
public final class EndlessStream<Q, R> implements ClientResponseObserver<Q, R> {

    private final IntFunction<Q> messages;
    private final CountDownLatch answered;
    private final List<R> responses = new ArrayList<>();
    private final CompletableFuture<Status> done = new CompletableFuture<>();
    private ClientCallStreamObserver<Q> requests;
    private int sent;

    private EndlessStream(IntFunction<Q> messages, int answersToWaitFor) {
        this.messages = messages;
        this.answered = new CountDownLatch(answersToWaitFor);
    }

    /** A fovea.v1 StreamPredict of 32 x 32 pictures to {@code model}, every frame answered; frame ids count from 0. */
    public static EndlessStream<StreamPredictRequest, StreamPredictResponse> streamPredict(Channel channel,
            String model, int answersToWaitFor) {
        Image picture = TestImages.pixels(TestImages.picture(32, 32, 3));
        EndlessStream<StreamPredictRequest, StreamPredictResponse> stream = new EndlessStream<>(index -> index == 0
                ? StreamPredictRequest.newBuilder().setOptions(StreamOptions.newBuilder().setModel(model)
                        .setMode(StreamMode.STREAM_MODE_EVERY_FRAME)).build()
                : StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(index - 1)
                        .setImage(picture)).build(), answersToWaitFor);
        InferenceServiceGrpc.newStub(channel).streamPredict(stream);
        return stream;
    }

    /** An OIP ModelStreamInfer of one 32 x 32 RGB frame per request to {@code model}; ids count from 0. */
    public static EndlessStream<ModelInferRequest, ModelStreamInferResponse> modelStreamInfer(Channel channel,
            String model, int answersToWaitFor) {
        ByteString frame = ByteString.copyFrom(TestImages.rgb(TestImages.picture(32, 32, 5), 32 * 3));
        ModelInferRequest.InferInputTensor input = ModelInferRequest.InferInputTensor.newBuilder().setName("input")
                .setDatatype("UINT8").addShape(1).addShape(32).addShape(32).addShape(3).build();
        EndlessStream<ModelInferRequest, ModelStreamInferResponse> stream = new EndlessStream<>(index ->
                ModelInferRequest.newBuilder().setModelName(model).setId(Integer.toString(index)).addInputs(input)
                        .addRawInputContents(frame).build(), answersToWaitFor);
        GRPCInferenceServiceGrpc.newStub(channel).modelStreamInfer(stream);
        return stream;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Q> requests) {
        this.requests = requests;
        requests.setOnReadyHandler(this::sendWhileReady);
    }

    private synchronized void sendWhileReady() {
        while (!done.isDone() && requests.isReady()) {
            requests.onNext(messages.apply(sent++));
        }
    }

    @Override
    public synchronized void onNext(R response) {
        responses.add(response);
        answered.countDown();
    }

    @Override
    public void onError(Throwable t) {
        done.complete(Status.fromThrowable(t));
        while (answered.getCount() > 0) {
            answered.countDown();
        }
    }

    @Override
    public void onCompleted() {
        done.complete(Status.OK);
    }

    /** Waits until the stream has had the number of answers asked for at construction (or has ended). */
    public void awaitAnswers() throws InterruptedException {
        answered.await();
    }

    /** How the call ended. */
    public CompletableFuture<Status> done() {
        return done;
    }

    public synchronized List<R> responses() {
        return List.copyOf(responses);
    }

    /** Messages sent so far (for a StreamPredict, the options message included). */
    public synchronized int sent() {
        return sent;
    }
}
