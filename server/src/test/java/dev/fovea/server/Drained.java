package dev.fovea.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/** Checks that a stream cut by a server shutdown was drained: answered up to where it was cut, then UNAVAILABLE. */
public final class Drained {

    private Drained() {}

    /**
     * The stream ended with UNAVAILABLE "server shutting down" after results for frames 0..k-1 in order, none an
     * error (the frames the server had accepted are a prefix of those sent). Returns k.
     */
    public static int streamPredict(EndlessStream<StreamPredictRequest, StreamPredictResponse> stream)
            throws Exception {
        assertShuttingDown(stream.done().get(1, TimeUnit.MINUTES));
        List<StreamPredictResponse> responses = stream.responses();
        for (int i = 0; i < responses.size(); i++) {
            StreamPredictResponse response = responses.get(i);
            assertEquals(i, response.getFrameId(), "frames are answered in order, none skipped");
            assertTrue(response.hasResult(), "frame " + i + " has a result: " + response);
        }
        return responses.size();
    }

    /** As {@link #streamPredict}, for an OIP stream: answers for ids 0..k-1 (in any order), none an error. */
    public static int modelStreamInfer(EndlessStream<ModelInferRequest, ModelStreamInferResponse> stream)
            throws Exception {
        assertShuttingDown(stream.done().get(1, TimeUnit.MINUTES));
        List<ModelStreamInferResponse> responses = stream.responses();
        for (ModelStreamInferResponse response : responses) {
            assertEquals("", response.getErrorMessage(), "request " + response.getInferResponse().getId());
        }
        List<Integer> ids = responses.stream().map(response -> Integer.parseInt(response.getInferResponse().getId()))
                .sorted().toList();
        assertEquals(IntStream.range(0, ids.size()).boxed().toList(), ids, "each of requests 0..k-1 answered once");
        return ids.size();
    }

    private static void assertShuttingDown(Status status) {
        assertEquals(Status.Code.UNAVAILABLE, status.getCode(), status.toString());
        assertEquals("server shutting down", status.getDescription());
    }
}
