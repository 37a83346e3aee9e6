package dev.fovea.server.http;

import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;

/**
 * Receives the one response of a unary gRPC service method called directly (no transport), so the HTTP binding runs
 * the very implementation gRPC clients reach. Fails with the StatusRuntimeException the method reported.
 */
final class Unary<T> implements StreamObserver<T> {

    private final CompletableFuture<T> result = new CompletableFuture<>();

    CompletableFuture<T> result() {
        return result;
    }

    @Override
    public void onNext(T value) {
        result.complete(value);
    }

    @Override
    public void onError(Throwable failure) {
        result.completeExceptionally(failure);
    }

    @Override
    public void onCompleted() {
        result.completeExceptionally(new IllegalStateException("completed without a response"));
    }
}
