package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferTensorContents;
import dev.fovea.oip.LogSettingsRequest;
import dev.fovea.oip.LogSettingsResponse;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.oip.ModelStatisticsRequest;
import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.oip.TraceSettingResponse;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestServer;
import dev.fovea.server.logging.LogSettings;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.DataType;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawTensor;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where Triton answers a request a particular way, Fovea answers it the same way: inputs checked against the
 * model's declared input before anything runs, reshape, ModelReady for unknown models, log and trace settings,
 * statistics that count clients' requests only. The repository holds the test CNN in Triton's layout twice: as
 * written ({@code triton_cnn}, input FP32 [3, 32, 32]) and declared flat with a reshape ({@code flat}, dims [3072],
 * reshape [3, 32, 32]), and once more as {@code idle}, which no test calls; and the {@code slow} (~0.1 s a call) and
 * {@code raw} fixtures.
 */
@Timeout(120)
class TritonParityTest {

    @TempDir
    static Path repository;

    private static FoveaServer server;
    private static ManagedChannel channel;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws Exception {
        Path cnn = TestServer.repositoryPath().resolve("triton_cnn");
        for (String name : new String[] {"triton_cnn", "flat", "idle"}) {
            Files.createDirectories(repository.resolve(name).resolve("1"));
            Files.copy(cnn.resolve("1").resolve("model.pt"), repository.resolve(name).resolve("1").resolve("model.pt"));
        }
        Files.writeString(repository.resolve("triton_cnn").resolve("config.pbtxt"), """
                platform: "pytorch_libtorch"
                max_batch_size: 4
                input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]
                output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 10 ] } ]
                """);
        for (String fixture : new String[] {"slow", "raw"}) {
            Files.createDirectories(repository.resolve(fixture));
            try (var files = Files.list(TestServer.repositoryPath().resolve(fixture))) {
                for (Path file : files.toList()) {
                    Files.copy(file, repository.resolve(fixture).resolve(file.getFileName()));
                }
            }
        }
        Files.copy(repository.resolve("triton_cnn").resolve("config.pbtxt"),
                repository.resolve("idle").resolve("config.pbtxt"));
        Files.writeString(repository.resolve("flat").resolve("config.pbtxt"), """
                platform: "pytorch_libtorch"
                max_batch_size: 4
                input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3072 ] reshape { shape: [ 3, 32, 32 ] } } ]
                output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 10 ] } ]
                """);
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        String name = InProcessServerBuilder.generateName();
        server = FoveaServer.builder(ModelRepository.open(repository, new ModelRepository.Options(16, 1, metrics)),
                metrics).listener(InProcessServerBuilder.forName(name)).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        oip = GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow();
        server.stop(5_000);
    }

    private static ByteString floats(int count) {
        ByteBuffer bytes = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            bytes.putFloat((i % 89) / 89f - 0.5f);
        }
        return ByteString.copyFrom(bytes.flip());
    }

    private static ModelInferRequest request(String model, String datatype, ByteString data, long... shape) {
        ModelInferRequest.InferInputTensor.Builder input = ModelInferRequest.InferInputTensor.newBuilder()
                .setName("INPUT__0").setDatatype(datatype);
        for (long size : shape) {
            input.addShape(size);
        }
        return ModelInferRequest.newBuilder().setModelName(model).addInputs(input).addRawInputContents(data).build();
    }

    private static Status refusal(ModelInferRequest request) {
        return assertThrows(StatusRuntimeException.class, () -> oip.modelInfer(request)).getStatus();
    }

    @Test
    void aWrongDatatypeIsRefusedBeforeTheModelRunsWithTritonsMessage() {
        Status int32 = refusal(request("triton_cnn", "INT32", floats(3072), 1, 3, 32, 32));
        assertEquals(Status.Code.INVALID_ARGUMENT, int32.getCode());
        assertEquals("inference input 'INPUT__0' data-type is 'INT32', but model 'triton_cnn' expects 'FP32'",
                int32.getDescription());
        Status fp64 = refusal(request("triton_cnn", "FP64", floats(2 * 3072), 1, 3, 32, 32));
        assertEquals(Status.Code.INVALID_ARGUMENT, fp64.getCode());
        assertTrue(fp64.getDescription().contains("'FP64'"), fp64.getDescription());
    }

    @Test
    void aWrongShapeIsRefusedEvenWhenTheByteCountFits() {
        Status small = refusal(request("triton_cnn", "FP32", floats(3 * 16 * 16), 1, 3, 16, 16));
        assertEquals(Status.Code.INVALID_ARGUMENT, small.getCode());
        assertEquals("unexpected shape for input 'INPUT__0' for model 'triton_cnn'. Expected [-1,3,32,32], got "
                + "[1,3,16,16]", small.getDescription());
        Status sameBytes = refusal(request("triton_cnn", "FP32", floats(3072), 1, 3, 64, 16));
        assertEquals(Status.Code.INVALID_ARGUMENT, sameBytes.getCode(), sameBytes.toString());
        Status rank = refusal(request("triton_cnn", "FP32", floats(3072), 1, 3072));
        assertEquals(Status.Code.INVALID_ARGUMENT, rank.getCode(), rank.toString());
    }

    @Test
    void foveaV1TensorsAreCheckedAgainstTheDeclaredInputToo() {
        var blocking = InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        RawTensor.Builder tensor = RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32).addShape(3)
                .addShape(64).addShape(16).setData(floats(3072));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking.predict(PredictRequest
                .newBuilder().setModel("triton_cnn").addImages(Image.newBuilder().setTensor(tensor)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("Expected [-1,3,32,32], got [1,3,64,16]"),
                e.getStatus().getDescription());
        assertEquals(1, blocking.predict(PredictRequest.newBuilder().setModel("flat").addImages(Image.newBuilder()
                .setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32).addShape(3072)
                        .setData(floats(3072)))).build()).getResultsCount());
    }

    @Test
    void aReshapedInputReachesTheModelInTheShapeItTakes() {
        ByteString data = floats(2 * 3072);
        ByteString asWritten = oip.modelInfer(request("triton_cnn", "FP32", data, 2, 3, 32, 32))
                .getRawOutputContents(0);
        ByteString flat = oip.modelInfer(request("flat", "FP32", data, 2, 3072)).getRawOutputContents(0);
        assertEquals(2 * 10 * 4, flat.size());
        assertEquals(asWritten, flat);
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(request("flat", "FP32", data, 2, 3, 32, 32)).getCode());
    }

    @Test
    void rawContentsWithTypedContentsAreRefused() {
        ModelInferRequest both = request("triton_cnn", "FP32", floats(3072), 1, 3, 32, 32);
        both = both.toBuilder().setInputs(0, both.getInputs(0).toBuilder()
                .setContents(InferTensorContents.newBuilder().addFp32Contents(1f))).build();
        Status status = refusal(both);
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().contains("contents field must not be specified"), status.toString());
    }

    @Test
    void aStreamAnswersInTheOrderItsRequestsCame() throws Exception {
        ModelInferRequest.InferInputTensor.Builder frame = ModelInferRequest.InferInputTensor.newBuilder()
                .setName("input").setDatatype("UINT8").addShape(1).addShape(16).addShape(16).addShape(3);
        ModelInferRequest.InferInputTensor.Builder tensor = ModelInferRequest.InferInputTensor.newBuilder()
                .setName("input").setDatatype("FP32").addShape(1).addShape(4);
        List<ModelInferRequest> requests = new ArrayList<>();
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            // A slow request, then one that fails at once, then a fast one: each must wait for those before it.
            requests.add(ModelInferRequest.newBuilder().setModelName("slow").setId("slow" + i).addInputs(frame)
                    .addRawInputContents(ByteString.copyFrom(new byte[16 * 16 * 3])).build());
            requests.add(ModelInferRequest.newBuilder().setModelName("nope").setId("bad" + i).build());
            requests.add(ModelInferRequest.newBuilder().setModelName("raw").setId("fast" + i).addInputs(tensor)
                    .addRawInputContents(ByteString.copyFrom(new byte[16])).build());
            sent.addAll(List.of("slow" + i, "bad" + i + " error", "fast" + i));
        }
        List<String> received = OneInferStream.run(channel, requests).stream()
                .map(response -> response.getInferResponse().getId()
                        + (response.getErrorMessage().isEmpty() ? "" : " error"))
                .toList();
        assertEquals(sent, received);
    }

    @Test
    void modelReadyForAnUnknownModelIsNotFound() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> oip.modelReady(ModelReadyRequest.newBuilder().setName("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(oip.modelReady(ModelReadyRequest.newBuilder().setName("flat").build()).getReady());
        assertFalse(oip.modelReady(ModelReadyRequest.newBuilder().setName("flat").setVersion("2").build())
                .getReady());
    }

    @Test
    void statisticsCountClientsRequestsNotTheWarmUp() {
        var idle = oip.modelStatistics(ModelStatisticsRequest.newBuilder().setName("idle").build()).getModelStats(0);
        assertEquals(0, idle.getInferenceCount(), "the load-time warm-up ran a batch, but no client did");
        assertEquals(0, idle.getExecutionCount());
        assertEquals(0, idle.getBatchStatsCount());
        var before = oip.modelStatistics(ModelStatisticsRequest.newBuilder().setName("triton_cnn").build())
                .getModelStats(0);
        oip.modelInfer(request("triton_cnn", "FP32", floats(3072), 1, 3, 32, 32));
        var after = oip.modelStatistics(ModelStatisticsRequest.newBuilder().setName("triton_cnn").build())
                .getModelStats(0);
        assertEquals(1, after.getInferenceCount() - before.getInferenceCount());
    }

    @Test
    void logSettingsAreReadChangedAndCheckedAsAWhole() {
        LogSettings.State original = LogSettings.forRootLogger().state();
        try {
            LogSettingsResponse current = oip.logSettings(LogSettingsRequest.getDefaultInstance());
            assertTrue(current.getSettingsOrThrow("log_info").getBoolParam());
            assertEquals("default", current.getSettingsOrThrow("log_format").getStringParam());

            LogSettingsResponse changed = oip.logSettings(LogSettingsRequest.newBuilder()
                    .putSettings("log_verbose_level", LogSettingsRequest.SettingValue.newBuilder().setUint32Param(1)
                            .build())
                    .putSettings("log_format", LogSettingsRequest.SettingValue.newBuilder().setStringParam("ISO8601")
                            .build()).build());
            assertEquals(1, changed.getSettingsOrThrow("log_verbose_level").getUint32Param());
            assertEquals("ISO8601", changed.getSettingsOrThrow("log_format").getStringParam());

            StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> oip.logSettings(
                    LogSettingsRequest.newBuilder().putSettings("log_info", LogSettingsRequest.SettingValue
                                    .newBuilder().setBoolParam(false).build())
                            .putSettings("x".repeat(100_000), LogSettingsRequest.SettingValue.newBuilder()
                                    .setBoolParam(true).build()).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode());
            assertTrue(unknown.getStatus().getDescription().length() < 300, "the key is not echoed whole");
            assertTrue(LogSettings.forRootLogger().state().info(), "a refused request changes nothing");

            StatusRuntimeException file = assertThrows(StatusRuntimeException.class, () -> oip.logSettings(
                    LogSettingsRequest.newBuilder().putSettings("log_file", LogSettingsRequest.SettingValue
                            .newBuilder().setStringParam("/tmp/fovea.log").build()).build()));
            assertEquals(Status.Code.UNIMPLEMENTED, file.getStatus().getCode());
            assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                    () -> oip.logSettings(LogSettingsRequest.newBuilder().putSettings("log_info",
                            LogSettingsRequest.SettingValue.newBuilder().setStringParam("yes").build()).build()))
                    .getStatus().getCode());
        } finally {
            LogSettings.forRootLogger().apply(original);
        }
    }

    @Test
    void traceSettingReadsTritonsSettingsAndRefusesABadLevel() {
        TraceSettingResponse settings = oip.traceSetting(TraceSettingRequest.getDefaultInstance());
        assertEquals(List.of("OFF"), settings.getSettingsOrThrow("trace_level").getValueList());
        assertEquals(List.of("1000"), settings.getSettingsOrThrow("trace_rate").getValueList());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> oip.traceSetting(TraceSettingRequest.newBuilder().putSettings("trace_level",
                        TraceSettingRequest.SettingValue.newBuilder().addValue("TENSORS").build()).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("'trace_level'"), e.getStatus().getDescription());
    }
}
