package dev.fovea.client;

import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** Records a stream's responses and its final status. */
class RecordingListener implements FrameStream.Listener {

    final List<StreamPredictResponse> responses = new CopyOnWriteArrayList<>();
    final CompletableFuture<Status> closed = new CompletableFuture<>();

    @Override
    public void onResponse(StreamPredictResponse response) {
        responses.add(response);
    }

    @Override
    public void onClose(Status status) {
        closed.complete(status);
    }

    Status awaitClose() throws Exception {
        return closed.get(5, TimeUnit.SECONDS);
    }

    List<Long> frameIds() {
        return responses.stream().map(StreamPredictResponse::getFrameId).toList();
    }
}
