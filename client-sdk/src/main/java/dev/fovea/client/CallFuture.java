package dev.fovea.client;

import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.CompletableFuture;

/**
 * The future of one unary call: completed by the call, and cancelling it cancels the call. Stages derived from it
 * are plain CompletableFutures, so cancelling one of those does not reach the call (CompletableFuture does not
 * propagate cancellation upstream).
 */
final class CallFuture<ReqT, RespT> extends CompletableFuture<RespT> implements ClientResponseObserver<ReqT, RespT> {

    /** Set by beforeStart, which gRPC runs inside the stub call, before the future is handed to anyone. */
    private volatile ClientCallStreamObserver<ReqT> call;

    @Override
    public void beforeStart(ClientCallStreamObserver<ReqT> requestStream) {
        call = requestStream;
    }

    @Override
    public void onNext(RespT value) {
        complete(value);
    }

    @Override
    public void onError(Throwable t) {
        completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
        // A unary call's onNext already completed the future; a call ending without one is an error gRPC reports
        // through onError.
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        boolean cancelled = super.cancel(mayInterruptIfRunning);
        if (cancelled) {
            call.cancel("the caller cancelled the future", null);
        }
        return cancelled;
    }

    @Override
    public <U> CompletableFuture<U> newIncompleteFuture() {
        return new CompletableFuture<>();
    }
}
