package dev.fovea.server.grpc;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.TestServer;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes the Open Inference Protocol's ModelInfer with structured requests (Jazzer mutates the ModelInferRequest:
 * model names and versions, inputs' names, datatypes, shapes, raw and typed contents, parameters, requested outputs)
 * against the in-process test server. Each must succeed or be refused with a status that blames the request
 * ({@link FuzzOutcomes}).
 */
class ModelInferValidationFuzzTest {

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
    void modelInferBlamesOnlyTheRequest(@NotNull ModelInferRequest request) {
        FuzzOutcomes.expectClientFaultAtWorst(() -> GRPCInferenceServiceGrpc.newBlockingStub(server.channel())
                .withDeadlineAfter(60, TimeUnit.SECONDS).modelInfer(request));
    }
}
