package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelConfigRequest;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelMetadataRequest;
import dev.fovea.oip.ModelStatisticsRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.oip.RepositoryIndexRequest;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryStatusRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.DataType;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.SharedMemoryRef;
import dev.fovea.v1.StreamOptions;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the server writes back is bounded whatever the client sent: a 1 MiB name comes back cut to a short quote,
 * and a model's TorchScript traceback comes back as its last line only (the error itself), over both APIs.
 */
@Timeout(120)
class EchoedTextTest {

    private static final String HUGE = "m".repeat(1 << 20);
    /** Longest description a refusal of a huge name may have: a quote of 128 characters and a sentence. */
    private static final int SHORT = 300;

    private static Path shm;
    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws Exception {
        shm = Files.createTempDirectory("fovea-shm");
        server = TestServer.start(64, SharedMemoryRegistry.enabled(shm));
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        Files.delete(shm);
    }

    /** The status {@code call} fails with: {@code code}, and a short one-line description. */
    private static String shortRefusal(Status.Code code, Supplier<?> call) {
        return assertShort(code, assertThrows(StatusRuntimeException.class, call::get).getStatus());
    }

    private static String assertShort(Status.Code code, Status status) {
        String description = status.getDescription();
        assertEquals(code, status.getCode(), () -> status.getCode() + ": " + cut(description));
        assertTrue(description.length() < SHORT, () -> description.length() + " chars: " + cut(description));
        assertFalse(description.contains("\n"), description);
        return description;
    }

    private static String cut(String s) {
        return s == null || s.length() < 400 ? s : s.substring(0, 400) + "...";
    }

    private static ModelInferRequest.Builder rawRequest() {
        return ModelInferRequest.newBuilder().setModelName("raw").addInputs(ModelInferRequest.InferInputTensor
                .newBuilder().setName("input").setDatatype("FP32").addShape(1).addShape(4))
                .addRawInputContents(ByteString.copyFrom(new byte[16]));
    }

    @Test
    void aOneMebibyteModelNameIsNotFoundWithAShortMessageOverFoveaV1() throws Exception {
        Image image = TestImages.pixels(TestImages.picture(8, 8, 1));
        String description = shortRefusal(Status.Code.NOT_FOUND, () -> server.blocking().predict(
                PredictRequest.newBuilder().setModel(HUGE).addImages(image).build()));
        assertTrue(description.startsWith("model 'mmmm"), description);
        assertTrue(description.contains("(1048576 chars) is not in the repository"), description);
        shortRefusal(Status.Code.NOT_FOUND, () -> server.blocking().getModel(GetModelRequest.newBuilder()
                .setName(HUGE).build()));
        ExecutionException stream = assertThrows(ExecutionException.class, () -> OneStream.run(server,
                StreamOptions.newBuilder().setModel(HUGE).build(), image));
        assertShort(Status.Code.NOT_FOUND, Status.fromThrowable(stream.getCause()));
    }

    @Test
    void aOneMebibyteModelNameIsNotFoundWithAShortMessageOverTheOpenInferenceProtocol() throws Exception {
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelInfer(rawRequest().setModelName(HUGE).build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelMetadata(ModelMetadataRequest.newBuilder().setName(HUGE)
                .build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelConfig(ModelConfigRequest.newBuilder().setName(HUGE)
                .build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelStatistics(ModelStatisticsRequest.newBuilder()
                .setName(HUGE).build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelInfer(rawRequest().setModelVersion(HUGE).build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.repositoryIndex(RepositoryIndexRequest.newBuilder()
                .setRepositoryName(HUGE).build()));

        List<ModelStreamInferResponse> responses = OneInferStream.run(server.channel(),
                List.of(rawRequest().setModelName(HUGE).build()));
        String message = responses.getFirst().getErrorMessage();
        assertTrue(message.startsWith("NOT_FOUND: model 'mmm") && message.length() < SHORT, cut(message));
        String echoed = responses.getFirst().getInferResponse().getModelName();
        assertTrue(echoed.length() <= ClientText.MAX_ECHOED_VALUE_CHARS, "the error response's model_name is cut too");
    }

    @Test
    void hugeInputOutputAndTypeNamesComeBackQuotedAndCut() {
        shortRefusal(Status.Code.INVALID_ARGUMENT, () -> oip.modelInfer(rawRequest()
                .setInputs(0, rawRequest().getInputs(0).toBuilder().setName(HUGE)).build()));
        shortRefusal(Status.Code.INVALID_ARGUMENT, () -> oip.modelInfer(rawRequest()
                .setInputs(0, rawRequest().getInputs(0).toBuilder().setDatatype(HUGE)).build()));
        String output = shortRefusal(Status.Code.INVALID_ARGUMENT, () -> oip.modelInfer(rawRequest()
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(HUGE)).build()));
        assertTrue(output.startsWith("outputs[0].name: model raw has no output 'mmm"), output);
    }

    @Test
    void hugeSharedMemoryNamesComeBackQuotedAndCut() {
        shortRefusal(Status.Code.INVALID_ARGUMENT, () -> oip.systemSharedMemoryRegister(
                SystemSharedMemoryRegisterRequest.newBuilder().setName("r").setKey("k".repeat(1 << 20))
                        .setByteSize(16).build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.systemSharedMemoryStatus(SystemSharedMemoryStatusRequest
                .newBuilder().setName(HUGE).build()));
        shortRefusal(Status.Code.NOT_FOUND, () -> oip.modelInfer(rawRequest().clearRawInputContents()
                .setInputs(0, rawRequest().getInputs(0).toBuilder()
                        .putParameters("shared_memory_region", InferParameter.newBuilder().setStringParam(HUGE)
                                .build())
                        .putParameters("shared_memory_byte_size", InferParameter.newBuilder().setInt64Param(16)
                                .build())).build()));
        Image byReference = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(4).setSharedMemory(SharedMemoryRef.newBuilder().setRegion(HUGE).setByteSize(16))).build();
        shortRefusal(Status.Code.NOT_FOUND, () -> server.blocking().predict(PredictRequest.newBuilder()
                .setModel("raw").addImages(byReference).build()));
    }

    @Test
    void aModelErrorComesBackAsItsLastLineWithoutTheTraceback() {
        // The raw model sums over dimension 1, which a batch of scalars lacks: TorchScript raises inside forward.
        Image scalar = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .setData(ByteString.copyFrom(new byte[4]))).build();
        String v1 = shortRefusal(Status.Code.INVALID_ARGUMENT, () -> server.blocking().predict(PredictRequest
                .newBuilder().setModel("raw").addImages(scalar).build()));
        assertTrue(v1.contains("Dimension out of range"), v1);
        // The same through the Open Inference Protocol: a Fovea-layout model takes any tensor as it is.
        ModelInferRequest scalars = ModelInferRequest.newBuilder().setModelName("raw")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input").setDatatype("FP32")
                        .addShape(1))
                .addRawInputContents(ByteString.copyFrom(new byte[4])).build();
        String oipMessage = shortRefusal(Status.Code.INVALID_ARGUMENT, () -> oip.modelInfer(scalars));
        assertTrue(oipMessage.contains("Dimension out of range"), oipMessage);
        for (String message : List.of(v1, oipMessage)) {
            assertFalse(message.contains("Traceback") || message.contains("File \"") || message.contains(".py"),
                    message);
        }
    }
}
