package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelMetadataRequest;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.torch.TorchRuntime;
import dev.fovea.v1.DataType;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.Precision;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.Result;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code precision} and {@code channels_last} in config.pbtxt, end to end on the CPU: copies of the test repository's
 * models with those lines added. Raw outputs come back in the model's dtype in both APIs, classifier scores in
 * float32, and a combination libtorch has no kernels for fails the model's load with a message that says so.
 */
@Timeout(180)
class PrecisionServingTest {

    @TempDir
    static Path repository;

    private static TestServer server;
    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;

    @BeforeAll
    static void start() throws IOException {
        copy("raw", "raw_fp16", "precision: FP16");
        copy("raw", "raw_bf16", "precision: BF16");
        copy("cnn", "cnn", "");
        copy("cnn", "cnn_bf16", "precision: BF16");
        copy("cnn", "cnn_channels_last", "channels_last: true");
        // libtorch 1.13 has no half-precision convolution on the CPU (2.x has).
        copy("cnn", "cnn_fp16", "precision: FP16");
        server = TestServer.start(repository);
        oip = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    /** The test repository's model {@code from} as {@code to}, with {@code line} appended to its config.pbtxt. */
    private static void copy(String from, String to, String line) throws IOException {
        Path source = TestServer.repositoryPath().resolve(from);
        Path target = Files.createDirectories(repository.resolve(to));
        try (Stream<Path> files = Files.list(source)) {
            for (Path file : files.toList()) {
                Files.copy(file, target.resolve(file.getFileName()));
            }
        }
        Files.writeString(target.resolve("config.pbtxt"), "\n" + line + "\n", StandardOpenOption.APPEND);
    }

    private static Image tensor(float... values) {
        ByteBuffer bytes = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            bytes.putFloat(value);
        }
        bytes.flip();
        return Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(values.length).setData(ByteString.copyFrom(bytes))).build();
    }

    private static float[] halves(ByteString bytes, boolean bfloat16) {
        ByteBuffer buffer = bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[bytes.size() / 2];
        for (int i = 0; i < values.length; i++) {
            short bits = buffer.getShort();
            values[i] = bfloat16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
        }
        return values;
    }

    @Test
    void float16RawOutputsComeBackAsFloat16InBothApis() {
        Result result = server.blocking().predict(PredictRequest.newBuilder().setModel("raw_fp16")
                .addImages(tensor(1f, 2f, 3f, 4.5f)).setIncludeOutputTensors(true).build()).getResults(0);
        RawTensor doubled = result.getOutputs(0);
        assertEquals(DataType.DATA_TYPE_FLOAT16, doubled.getDtype());
        assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, halves(doubled.getData(), false));

        ModelInferResponse response = oip.modelInfer(ModelInferRequest.newBuilder().setModelName("raw_fp16")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input").setDatatype("FP32")
                        .addShape(1).addShape(4))
                .addRawInputContents(tensor(1f, 2f, 3f, 4.5f).getTensor().getData()).build());
        assertEquals("FP16", response.getOutputs(0).getDatatype());
        assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, halves(response.getRawOutputContents(0), false));
        assertEquals("FP16", oip.modelMetadata(ModelMetadataRequest.newBuilder().setName("raw_fp16").build())
                .getOutputs(0).getDatatype());
        ModelInfo info = server.blocking().getModel(GetModelRequest.newBuilder().setName("raw_fp16").build());
        assertEquals("float16", info.getOutputs(0).getDtype());
        assertEquals(Precision.FP16, info.getConfig().getPrecision());
    }

    @Test
    void bfloat16RawOutputsComeBackAsBfloat16() {
        Result result = server.blocking().predict(PredictRequest.newBuilder().setModel("raw_bf16")
                .addImages(tensor(1f, 2f, 3f, 4.5f)).setIncludeOutputTensors(true).build()).getResults(0);
        assertEquals(DataType.DATA_TYPE_BFLOAT16, result.getOutputs(0).getDtype());
        assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, halves(result.getOutputs(0).getData(), true));
        assertEquals("BF16", oip.modelMetadata(ModelMetadataRequest.newBuilder().setName("raw_bf16").build())
                .getOutputs(0).getDatatype());
    }

    @Test
    void bfloat16ClassifierScoresAreFloat32AndCloseToFloat32s() {
        Image picture = TestImages.pixels(TestImages.picture(48, 40, 3));
        List<Float> reference = scores("cnn", picture);
        List<Float> bf16 = scores("cnn_bf16", picture);
        for (int i = 0; i < reference.size(); i++) {
            assertEquals(reference.get(i), bf16.get(i), 0.03, "class " + i + ": " + reference + " vs " + bf16);
        }
    }

    @Test
    void channelsLastGivesTheSameScores() {
        Image picture = TestImages.pixels(TestImages.picture(48, 40, 5));
        List<Float> reference = scores("cnn", picture);
        List<Float> channelsLast = scores("cnn_channels_last", picture);
        for (int i = 0; i < reference.size(); i++) {
            assertEquals(reference.get(i), channelsLast.get(i), 1e-5, "class " + i);
        }
    }

    @Test
    void anUnsupportedPrecisionFailsAtLoadSayingWhy() {
        assumeTrue(TorchRuntime.torchVersion().startsWith("1."), "libtorch 2.x has FP16 convolutions on the CPU");
        ModelInfo fp16 = server.blocking().listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
                .filter(model -> model.getName().equals("cnn_fp16")).findFirst().orElseThrow();
        assertEquals(ModelStatus.MODEL_STATUS_FAILED, fp16.getStatus());
        assertTrue(fp16.getStatusMessage().contains("with precision FP16 on cpu"), fp16.getStatusMessage());
        assertTrue(fp16.getStatusMessage().contains("Half"), fp16.getStatusMessage());
    }

    /** Every class's score, in class order. */
    private static List<Float> scores(String model, Image picture) {
        Result result = server.blocking().predict(PredictRequest.newBuilder().setModel(model).addImages(picture)
                .setTopK(10).build()).getResults(0);
        Float[] byClass = new Float[result.getClassesCount()];
        result.getClassesList().forEach(score -> byClass[score.getIndex()] = score.getScore());
        return List.of(byClass);
    }
}
