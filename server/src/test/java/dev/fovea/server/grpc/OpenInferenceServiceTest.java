package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.InferTensorContents;
import dev.fovea.oip.ModelConfigRequest;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelMetadataRequest;
import dev.fovea.oip.ModelMetadataResponse;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.oip.ModelStatisticsRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.oip.RepositoryIndexRequest;
import dev.fovea.oip.RepositoryIndexResponse;
import dev.fovea.oip.RepositoryModelLoadRequest;
import dev.fovea.oip.ServerLiveRequest;
import dev.fovea.oip.ServerMetadataRequest;
import dev.fovea.oip.ServerReadyRequest;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryStatusRequest;
import dev.fovea.oip.SystemSharedMemoryUnregisterRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Open Inference Protocol service over the test repository, as a KServe or Triton client calls it. */
@Timeout(60)
class OpenInferenceServiceTest {

    private static Path shm;
    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws Exception {
        shm = Files.createTempDirectory("fovea-shm");
        server = TestServer.start(64, SharedMemoryRegistry.enabled(shm));
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        try (var files = Files.list(shm)) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(shm);
    }

    private static byte[] frames(int count) {
        ByteBuffer bytes = ByteBuffer.allocate(count * 32 * 32 * 3);
        for (int i = 0; i < count; i++) {
            bytes.put(TestImages.rgb(TestImages.picture(32, 32, i + 1), 32 * 3));
        }
        return bytes.array();
    }

    private static ModelInferRequest.InferInputTensor.Builder input(String name, String datatype, long... shape) {
        ModelInferRequest.InferInputTensor.Builder input = ModelInferRequest.InferInputTensor.newBuilder()
                .setName(name).setDatatype(datatype);
        for (long size : shape) {
            input.addShape(size);
        }
        return input;
    }

    private static float[] floats(ByteString bytes) {
        float[] values = new float[bytes.size() / 4];
        bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    private static int argmax(float[] values, int from, int length) {
        int best = from;
        for (int i = from; i < from + length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best - from;
    }

    private static Status.Code refusal(ModelInferRequest request) {
        return assertThrows(StatusRuntimeException.class, () -> oip.modelInfer(request)).getStatus().getCode();
    }

    @Test
    void serverAndModelsReportLivenessReadinessAndMetadata() {
        assertTrue(oip.serverLive(ServerLiveRequest.getDefaultInstance()).getLive());
        assertTrue(oip.serverReady(ServerReadyRequest.getDefaultInstance()).getReady());
        assertTrue(oip.modelReady(ModelReadyRequest.newBuilder().setName("cnn").build()).getReady());
        assertFalse(oip.modelReady(ModelReadyRequest.newBuilder().setName("broken").build()).getReady());
        assertFalse(oip.modelReady(ModelReadyRequest.newBuilder().setName("cnn").setVersion("2").build()).getReady());
        var metadata = oip.serverMetadata(ServerMetadataRequest.getDefaultInstance());
        assertEquals("fovea", metadata.getName());
        assertTrue(metadata.getExtensionsList().containsAll(List.of("classification", "system_shared_memory",
                "statistics", "model_configuration", "model_repository")), metadata.getExtensionsList().toString());
    }

    @Test
    void modelMetadataDescribesWhatAClientSends() {
        ModelMetadataResponse cnn = oip.modelMetadata(ModelMetadataRequest.newBuilder().setName("cnn").build());
        assertEquals("pytorch_libtorch", cnn.getPlatform());
        assertEquals(List.of("1"), cnn.getVersionsList());
        assertEquals("input", cnn.getInputs(0).getName());
        assertEquals("UINT8", cnn.getInputs(0).getDatatype());
        assertEquals(List.of(-1L, -1L, -1L, 3L), cnn.getInputs(0).getShapeList());
        assertEquals("output_0", cnn.getOutputs(0).getName());
        assertEquals("FP32", cnn.getOutputs(0).getDatatype());
        assertEquals(List.of(-1L, 10L), cnn.getOutputs(0).getShapeList());

        ModelMetadataResponse triton = oip.modelMetadata(ModelMetadataRequest.newBuilder().setName("triton_cnn")
                .build());
        assertEquals("INPUT__0", triton.getInputs(0).getName());
        assertEquals("FP32", triton.getInputs(0).getDatatype());
        assertEquals(List.of(-1L, 3L, 32L, 32L), triton.getInputs(0).getShapeList());
        assertEquals("OUTPUT__0", triton.getOutputs(0).getName());

        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> oip.modelMetadata(ModelMetadataRequest.newBuilder().setName("nope").build())).getStatus()
                .getCode());
    }

    @Test
    void rawUint8FramesArePreprocessedLikeFoveaPictures() {
        byte[] two = frames(2);
        ModelInferResponse response = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn").setId("a1")
                .addInputs(input("input", "UINT8", 2, 32, 32, 3)).addRawInputContents(ByteString.copyFrom(two))
                .build());
        assertEquals("a1", response.getId());
        assertEquals("cnn", response.getModelName());
        assertEquals("FP32", response.getOutputs(0).getDatatype());
        assertEquals(List.of(2L, 10L), response.getOutputs(0).getShapeList());
        float[] logits = floats(response.getRawOutputContents(0));
        assertEquals(20, logits.length);
        for (int i = 0; i < 2; i++) {
            int top = server.blocking().predict(PredictRequest.newBuilder().setModel("cnn")
                    .addImages(TestImages.pixels(TestImages.picture(32, 32, i + 1))).build()).getResults(0)
                    .getClasses(0).getIndex();
            assertEquals(top, argmax(logits, i * 10, 10), "row " + i + " ranks classes as fovea.v1 does");
        }
    }

    @Test
    void encodedImagesTravelAsBytes() {
        Image png = TestImages.encoded(TestImages.picture(40, 30, 3), "png");
        byte[] file = png.getEncoded().getData().toByteArray();
        ModelInferResponse typed = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(input("input", "BYTES", 1).setContents(InferTensorContents.newBuilder()
                        .addBytesContents(ByteString.copyFrom(file)))).build());
        ByteBuffer raw = ByteBuffer.allocate(4 + file.length).order(ByteOrder.LITTLE_ENDIAN);
        raw.putInt(file.length).put(file).flip();
        ModelInferResponse rawResponse = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(input("input", "BYTES", 1)).addRawInputContents(ByteString.copyFrom(raw)).build());
        int top = server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").addImages(png).build())
                .getResults(0).getClasses(0).getIndex();
        assertEquals(top, argmax(floats(typed.getRawOutputContents(0)), 0, 10));
        assertEquals(typed.getRawOutputContents(0), rawResponse.getRawOutputContents(0));
    }

    @Test
    void typedContentsReachATensorModelAsTheyAre() {
        ModelInferResponse response = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("raw")
                .addInputs(input("input", "FP32", 1, 4).setContents(InferTensorContents.newBuilder()
                        .addAllFp32Contents(List.of(1f, 2f, 3f, 4.5f)))).build());
        assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, floats(response.getRawOutputContents(0)));
        assertEquals(List.of(1L), response.getOutputs(1).getShapeList());
        assertArrayEquals(new float[] {10.5f}, floats(response.getRawOutputContents(1)));
    }

    @Test
    void aTritonLayoutModelServesTensorsAndClassifies() {
        ByteBuffer tensor = ByteBuffer.allocate(3 * 32 * 32 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 3 * 32 * 32; i++) {
            tensor.putFloat((i % 97) / 97f - 0.5f);
        }
        tensor.flip();
        ModelInferRequest.Builder request = ModelInferRequest.newBuilder().setModelName("triton_cnn")
                .addInputs(input("INPUT__0", "FP32", 1, 3, 32, 32)).addRawInputContents(ByteString.copyFrom(tensor));
        float[] logits = floats(oip.modelInfer(request.build()).getRawOutputContents(0));
        assertEquals(10, logits.length);

        ModelInferResponse classified = oip.modelInfer(request.addOutputs(ModelInferRequest
                .InferRequestedOutputTensor.newBuilder().setName("OUTPUT__0").putParameters("classification",
                        InferParameter.newBuilder().setInt64Param(3).build())).build());
        assertEquals("BYTES", classified.getOutputs(0).getDatatype());
        assertEquals(List.of(1L, 3L), classified.getOutputs(0).getShapeList());
        ByteBuffer strings = classified.getRawOutputContents(0).asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        byte[] first = new byte[strings.getInt()];
        strings.get(first);
        String[] parts = new String(first, StandardCharsets.UTF_8).split(":");
        int best = argmax(logits, 0, 10);
        assertEquals(String.valueOf(best), parts[1]);
        assertEquals(List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck").get(best), parts[2]);
    }

    @Test
    void fieldsATritonConfigSetsThatFoveaDoesNotApplyAreReported() {
        String message = server.blocking().getModel(GetModelRequest.newBuilder().setName("triton_cnn").build())
                .getStatusMessage();
        assertTrue(message.contains("optimization"), message);
        assertTrue(oip.modelConfig(ModelConfigRequest.newBuilder().setName("triton_cnn").build()).getConfig()
                .hasOptimization(), "ModelConfig returns the config as written");
        var cnn = oip.modelConfig(ModelConfigRequest.newBuilder().setName("cnn").build()).getConfig();
        assertEquals(8, cnn.getMaxBatchSize());
        assertEquals("pytorch_libtorch", cnn.getPlatform());
    }

    @Test
    void badRequestsNameTheProblem() {
        ModelInferRequest good = ModelInferRequest.newBuilder().setModelName("raw")
                .addInputs(input("input", "FP32", 1, 4)).addRawInputContents(ByteString.copyFrom(new byte[16]))
                .build();
        assertEquals(Status.Code.NOT_FOUND, refusal(good.toBuilder().setModelName("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, refusal(good.toBuilder().setModelVersion("7").build()));
        assertEquals(Status.Code.UNAVAILABLE, refusal(good.toBuilder().setModelName("broken").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(good.toBuilder()
                .setInputs(0, input("x", "FP32", 1, 4)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(good.toBuilder()
                .setInputs(0, input("input", "FP32", 1, 5)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(good.toBuilder()
                .setInputs(0, input("input", "INT16", 1, 8)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(good.toBuilder()
                .setInputs(0, input("input", "FP32", 1, -4)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(good.toBuilder().addOutputs(
                ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("nope")).build()));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> oip.modelInfer(good.toBuilder()
                .setInputs(0, input("input", "FP32", 1, 5)).build()));
        assertTrue(e.getStatus().getDescription().contains("inputs[0]"), e.getStatus().getDescription());
        assertEquals(Status.Code.UNAVAILABLE, assertThrows(StatusRuntimeException.class,
                () -> oip.repositoryModelLoad(RepositoryModelLoadRequest.newBuilder().setModelName("cnn").build()))
                .getStatus().getCode(), "model control is off in mode none");
        assertEquals(4, floats(oip.modelInfer(good).getRawOutputContents(0)).length, "the server goes on");
    }

    @Test
    void statisticsAndTheRepositoryIndexReportEveryModel() {
        oip.modelInfer(ModelInferRequest.newBuilder().setModelName("gray").addInputs(input("input", "UINT8", 1, 32,
                32, 3)).addRawInputContents(ByteString.copyFrom(frames(1))).build());
        var stats = oip.modelStatistics(ModelStatisticsRequest.newBuilder().setName("gray").build()).getModelStats(0);
        assertEquals("gray", stats.getName());
        assertTrue(stats.getInferenceCount() >= 1, "the request (the warm-up is not counted): "
                + stats.getInferenceCount());
        assertTrue(stats.getInferenceStats().getSuccess().getCount() >= 1);
        assertTrue(stats.getInferenceStats().getComputeInfer().getNs() > 0);
        assertTrue(stats.getBatchStatsCount() >= 1);

        RepositoryIndexResponse index = oip.repositoryIndex(RepositoryIndexRequest.getDefaultInstance());
        RepositoryIndexResponse.ModelIndex broken = index.getModelsList().stream()
                .filter(model -> model.getName().equals("broken")).findFirst().orElseThrow();
        assertEquals("UNAVAILABLE", broken.getState());
        assertFalse(broken.getReason().isEmpty());
        assertTrue(oip.repositoryIndex(RepositoryIndexRequest.newBuilder().setReady(true).build()).getModelsList()
                .stream().noneMatch(model -> model.getName().equals("broken")));
    }

    @Test
    void streamedRequestsEachGetAResponseAndAFailureDoesNotEndTheStream() throws Exception {
        List<ModelInferRequest> requests = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            requests.add(ModelInferRequest.newBuilder().setModelName("raw").setId("r" + i)
                    .addInputs(input("input", "FP32", 1, i == 1 ? 3 : 4))
                    .addRawInputContents(ByteString.copyFrom(new byte[16])).build());
        }
        List<ModelStreamInferResponse> received = OneInferStream.run(server.channel(), requests);
        assertEquals(3, received.size());
        for (ModelStreamInferResponse response : received) {
            boolean bad = response.getInferResponse().getId().equals("r1");
            assertEquals(bad, !response.getErrorMessage().isEmpty(), response.toString());
            if (!bad) {
                assertEquals(2, response.getInferResponse().getRawOutputContentsCount());
            }
        }
    }

    @Test
    void inputsAndOutputsTravelThroughRegisteredSharedMemory() throws Exception {
        byte[] frame = frames(1);
        Files.write(shm.resolve("oip_in"), frame);
        Files.write(shm.resolve("oip_out"), new byte[64]);
        oip.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName("in").setKey("/oip_in")
                .setByteSize(frame.length).build());
        oip.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName("out")
                .setKey("/oip_out").setByteSize(64).build());
        assertEquals(2, oip.systemSharedMemoryStatus(SystemSharedMemoryStatusRequest.getDefaultInstance())
                .getRegionsCount());
        ModelInferResponse inline = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(input("input", "UINT8", 1, 32, 32, 3)).addRawInputContents(ByteString.copyFrom(frame))
                .build());
        ModelInferResponse shared = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(input("input", "UINT8", 1, 32, 32, 3)
                        .putParameters("shared_memory_region", InferParameter.newBuilder().setStringParam("in").build())
                        .putParameters("shared_memory_byte_size", InferParameter.newBuilder()
                                .setInt64Param(frame.length).build()))
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("output_0")
                        .putParameters("shared_memory_region", InferParameter.newBuilder().setStringParam("out").build())
                        .putParameters("shared_memory_byte_size", InferParameter.newBuilder().setInt64Param(64).build()))
                .build());
        assertTrue(shared.getRawOutputContents(0).isEmpty(), "the output went to shared memory");
        byte[] written = Files.readAllBytes(shm.resolve("oip_out"));
        assertArrayEquals(inline.getRawOutputContents(0).toByteArray(), java.util.Arrays.copyOf(written, 40));
        oip.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.getDefaultInstance());
        assertEquals(0, oip.systemSharedMemoryStatus(SystemSharedMemoryStatusRequest.getDefaultInstance())
                .getRegionsCount());
    }

    @Test
    void regionsWhoseFilesWereTruncatedFailInputsAndOutputsAndTheServerGoesOn() throws Exception {
        byte[] frame = frames(1);
        Path in = Files.write(shm.resolve("cut_in"), new byte[2 * 4096]);
        Path out = Files.write(shm.resolve("cut_out"), new byte[2 * 4096]);
        oip.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName("cut_in")
                .setKey("cut_in").setByteSize(2 * 4096).build());
        oip.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName("cut_out")
                .setKey("cut_out").setByteSize(2 * 4096).build());
        try (FileChannel client = FileChannel.open(in, StandardOpenOption.WRITE)) {
            client.truncate(0);
        }
        ModelInferRequest.InferInputTensor.Builder shared = input("input", "UINT8", 1, 32, 32, 3)
                .putParameters("shared_memory_region", InferParameter.newBuilder().setStringParam("cut_in").build())
                .putParameters("shared_memory_byte_size", InferParameter.newBuilder()
                        .setInt64Param(frame.length).build());
        StatusRuntimeException input = assertThrows(StatusRuntimeException.class,
                () -> oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn").addInputs(shared).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, input.getStatus().getCode());
        assertTrue(input.getStatus().getDescription().contains("region 'cut_in' needs bytes 0..3072"),
                input.getStatus().getDescription());

        try (FileChannel client = FileChannel.open(out, StandardOpenOption.WRITE)) {
            client.truncate(0);
        }
        StatusRuntimeException output = assertThrows(StatusRuntimeException.class,
                () -> oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                        .addInputs(input("input", "UINT8", 1, 32, 32, 3))
                        .addRawInputContents(ByteString.copyFrom(frame))
                        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("output_0")
                                .putParameters("shared_memory_region",
                                        InferParameter.newBuilder().setStringParam("cut_out").build())
                                .putParameters("shared_memory_byte_size",
                                        InferParameter.newBuilder().setInt64Param(64).build()))
                        .build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, output.getStatus().getCode());
        assertTrue(output.getStatus().getDescription().contains("region 'cut_out' needs bytes 0..40"),
                output.getStatus().getDescription());
        oip.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.getDefaultInstance());

        ModelInferResponse after = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(input("input", "UINT8", 1, 32, 32, 3)).addRawInputContents(ByteString.copyFrom(frame))
                .build());
        assertEquals(1, after.getOutputsCount(), "the server goes on");
    }
}
