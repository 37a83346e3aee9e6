package dev.fovea.server.grpc;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;
import dev.fovea.server.TestServer;
import dev.fovea.v1.PredictRequest;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes fovea.v1 Predict with structured requests (Jazzer mutates the PredictRequest message itself: model names,
 * image kinds, sizes, strides, formats, shared-memory references, top_k) against the in-process test server, so every
 * request runs the service's validation and, when it passes, the model. Each must succeed or be refused with a status
 * that blames the request ({@link FuzzOutcomes}).
 */
class PredictValidationFuzzTest {

    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @FuzzTest
    void predictBlamesOnlyTheRequest(@NotNull PredictRequest request) {
        FuzzOutcomes.expectClientFaultAtWorst(
                () -> server.blocking().withDeadlineAfter(60, TimeUnit.SECONDS).predict(request));
    }
}
