package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.Result;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How many classes a client asks for is a cap, never a size: huge values return every class of the model (ten for
 * the test CNNs) and allocate nothing more, over fovea.v1's {@code top_k} (uint32) and the Open Inference Protocol's
 * {@code classification} parameter (int64 or uint64).
 */
@Timeout(120)
class TopKTest {

    private static final int CLASSES = 10;
    /** 2^30, 2^31-1 and 2^32-1 as a uint32 arrives in Java (-1). */
    private static final int[] HUGE_UINT32 = {1 << 30, Integer.MAX_VALUE, -1};

    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static void assertAllClassesBestFirst(Result result) {
        assertEquals(CLASSES, result.getClassesCount(), result.toString());
        for (int i = 1; i < CLASSES; i++) {
            assertTrue(result.getClasses(i - 1).getScore() >= result.getClasses(i).getScore(), result.toString());
        }
    }

    @Test
    void hugeTopKReturnsEveryClassOverPredict() {
        for (int topK : HUGE_UINT32) {
            var response = server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").setTopK(topK)
                    .addImages(TestImages.pixels(TestImages.picture(32, 32, 1)))
                    .addImages(TestImages.pixels(TestImages.picture(32, 32, 2))).build());
            assertAllClassesBestFirst(response.getResults(0));
            assertAllClassesBestFirst(response.getResults(1));
        }
        assertEquals(3, server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").setTopK(3)
                .addImages(TestImages.pixels(TestImages.picture(32, 32, 1))).build()).getResults(0)
                .getClassesCount(), "small values still cut");
    }

    @Test
    void hugeTopKReturnsEveryClassOverStreamPredict() throws Exception {
        for (int topK : HUGE_UINT32) {
            List<StreamPredictResponse> responses = OneStream.run(server, StreamOptions.newBuilder().setModel("cnn")
                    .setTopK(topK).build(), TestImages.pixels(TestImages.picture(32, 32, 3)));
            assertEquals(1, responses.size());
            assertAllClassesBestFirst(responses.getFirst().getResult());
        }
    }

    private static ModelInferRequest classify(InferParameter classification) {
        ByteBuffer tensor = ByteBuffer.allocate(3 * 32 * 32 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 3 * 32 * 32; i++) {
            tensor.putFloat((i % 89) / 89f - 0.5f);
        }
        tensor.flip();
        return ModelInferRequest.newBuilder().setModelName("triton_cnn")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("INPUT__0").setDatatype("FP32")
                        .addShape(1).addShape(3).addShape(32).addShape(32))
                .addRawInputContents(ByteString.copyFrom(tensor))
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("OUTPUT__0")
                        .putParameters("classification", classification))
                .build();
    }

    @Test
    void hugeClassificationCountsReturnEveryClassOverTheOpenInferenceProtocol() {
        List<InferParameter> huge = List.of(
                InferParameter.newBuilder().setInt64Param(1L << 30).build(),
                InferParameter.newBuilder().setInt64Param(Integer.MAX_VALUE).build(),
                InferParameter.newBuilder().setInt64Param((1L << 32) - 1).build(),
                InferParameter.newBuilder().setInt64Param(Long.MAX_VALUE).build(),
                InferParameter.newBuilder().setUint64Param((1L << 32) - 1).build(),
                InferParameter.newBuilder().setUint64Param(-1L).build()); // 2^64-1
        for (InferParameter k : huge) {
            ModelInferResponse response = oip.modelInfer(classify(k));
            assertEquals(List.of(1L, (long) CLASSES), response.getOutputs(0).getShapeList(), k.toString());
            ByteBuffer strings = response.getRawOutputContents(0).asReadOnlyByteBuffer()
                    .order(ByteOrder.LITTLE_ENDIAN);
            int entries = 0;
            while (strings.hasRemaining()) {
                int length = strings.getInt();
                strings.position(strings.position() + length);
                entries++;
            }
            assertEquals(CLASSES, entries, k.toString());
        }
    }

    @Test
    void classificationCountsBelowOneAreInvalidAndNamed() {
        for (InferParameter k : List.of(InferParameter.newBuilder().setInt64Param(0).build(),
                InferParameter.newBuilder().setInt64Param(-1).build(),
                InferParameter.newBuilder().setInt64Param(Long.MIN_VALUE).build(),
                InferParameter.newBuilder().setUint64Param(0).build())) {
            Status status = assertThrows(StatusRuntimeException.class, () -> oip.modelInfer(classify(k))).getStatus();
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), k.toString());
            assertTrue(status.getDescription().startsWith("outputs[0].parameters.classification must be at least 1"),
                    status.getDescription());
        }
    }
}
