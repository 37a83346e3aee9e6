package dev.fovea.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Shutdown, as SIGTERM runs it: stop accepting, finish what is running, then free the models. */
class FoveaServerTest {

    @Test
    void stopFinishesInFlightRequestsThenRefusesNewOnes() throws Exception {
        TestServer server = TestServer.start();
        ModelRunner slow = server.server().repository().find("slow").orElseThrow().runner();
        long before = slow.batchesRun();
        PredictRequest request = PredictRequest.newBuilder().setModel("slow")
                .addImages(TestImages.pixels(TestImages.picture(16, 16, 0))).build();
        CompletableFuture<PredictResponse> inFlight =
                CompletableFuture.supplyAsync(() -> server.blocking().predict(request));
        long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (slow.batchesRun() == before && System.nanoTime() < waitUntil) {
            Thread.sleep(1);
        }

        server.server().stop(10_000);

        assertEquals(1, inFlight.get(10, TimeUnit.SECONDS).getResultsCount(), "the running request finished");
        StatusRuntimeException refused =
                assertThrows(StatusRuntimeException.class, () -> server.blocking().predict(request));
        assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
        server.channel().shutdownNow();
    }
}
