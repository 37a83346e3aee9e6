package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.v1.Classification;
import dev.fovea.v1.DataType;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.Result;
import java.awt.image.BufferedImage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Predict, ListModels and GetModel over an in-process channel, on the test repository. */
class PredictTest {

    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static Result predictOne(String model, Image image) {
        PredictResponse response = server.blocking().predict(
                PredictRequest.newBuilder().setModel(model).addImages(image).build());
        assertEquals(1, response.getResultsCount());
        return response.getResults(0);
    }

    @Test
    void resultEqualsRunningTheModelDirectlyOnTheSamePixels() throws Exception {
        BufferedImage picture = TestImages.picture(48, 40, 3);
        Result result = predictOne("cnn", TestImages.pixels(picture));

        float[] expected;
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(TestServer.repositoryPath().resolve("cnn/model.pt"), Device.CPU)) {
            byte[] rgb = TestImages.rgb(picture, 48 * 3);
            MemorySegment pixels = arena.allocate(rgb.length);
            pixels.copyFrom(MemorySegment.ofArray(rgb));
            Preprocessing spec = new Preprocessing(36, 32, 32, new float[] {0.485f, 0.456f, 0.406f},
                    new float[] {0.229f, 0.224f, 0.225f}, PixelFormat.RGB);
            try (Tensor input = Preprocessor.toTensor(
                            List.of(new ImageInput.Pixels(pixels, 48, 40, 48 * 3, PixelFormat.RGB)), spec, Device.CPU);
                    Tensor logits = module.forward(input).getFirst()) {
                expected = dev.fovea.server.inference.Softmax.of(logits.data().toArray(ValueLayout.JAVA_FLOAT));
            }
        }
        assertEquals(5, result.getClassesCount());
        List<String> labels = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                "ship", "truck");
        float previous = Float.MAX_VALUE;
        for (Classification c : result.getClassesList()) {
            assertEquals(expected[c.getIndex()], c.getScore(), 1e-6f);
            assertEquals(labels.get(c.getIndex()), c.getLabel());
            assertTrue(c.getScore() <= previous, "classes are sorted best first");
            previous = c.getScore();
        }
    }

    @Test
    void pngGivesTheSameScoresAsItsRawPixels() {
        BufferedImage picture = TestImages.picture(64, 48, 5);
        Result fromPixels = predictOne("cnn", TestImages.pixels(picture));
        Result fromPng = predictOne("cnn", TestImages.encoded(picture, "png"));
        assertEquals(fromPixels.getClassesList(), fromPng.getClassesList());
    }

    @Test
    void jpegIsDecodedAndClassified() {
        Result result = predictOne("cnn", TestImages.encoded(TestImages.picture(64, 48, 5), "jpeg"));
        assertEquals(5, result.getClassesCount());
        float total = 0;
        for (Classification c : result.getClassesList()) {
            total += c.getScore();
        }
        assertTrue(total > 0 && total <= 1.0001f, "top-5 probabilities sum to at most 1: " + total);
    }

    @Test
    void aBatchGetsOneResultPerImageInRequestOrder() {
        List<Image> images = List.of(TestImages.pixels(TestImages.picture(40, 40, 1)),
                TestImages.pixels(TestImages.picture(40, 40, 9)), TestImages.pixels(TestImages.picture(40, 40, 17)));
        PredictResponse batch = server.blocking().predict(
                PredictRequest.newBuilder().setModel("cnn").addAllImages(images).setTopK(3).build());
        assertEquals(3, batch.getResultsCount());
        for (int i = 0; i < images.size(); i++) {
            Result alone = predictOne("cnn", images.get(i));
            assertEquals(3, batch.getResults(i).getClassesCount());
            for (int c = 0; c < 3; c++) {
                assertEquals(alone.getClasses(c).getIndex(), batch.getResults(i).getClasses(c).getIndex());
                assertEquals(alone.getClasses(c).getScore(), batch.getResults(i).getClasses(c).getScore(), 1e-5f);
            }
            assertEquals(3, batch.getResults(i).getTimings().getBatchSize());
        }
    }

    @Test
    void timingsSayWhereTheTimeWent() {
        Result result = predictOne("slow", TestImages.pixels(TestImages.picture(16, 16, 0)));
        assertTrue(result.getTimings().getInferenceUs() > 1_000, result.getTimings().toString());
        assertTrue(result.getTimings().getPreprocessUs() > 0, result.getTimings().toString());
        assertEquals(1, result.getTimings().getBatchSize());
    }

    @Test
    void rawTensorsReachTheModelAsTheyAreAndOutputsComeBack() {
        ByteBuffer values = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        values.putFloat(1f).putFloat(2f).putFloat(3f).putFloat(4.5f).flip();
        Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                .addShape(4).setData(ByteString.copyFrom(values))).build();
        PredictResponse response = server.blocking().predict(PredictRequest.newBuilder().setModel("raw")
                .addImages(tensor).addImages(tensor).setIncludeOutputTensors(true).build());
        assertEquals(2, response.getResultsCount());
        Result result = response.getResults(1);
        assertEquals(0, result.getClassesCount(), "TASK_RAW models return no classes");
        assertEquals(2, result.getOutputsCount());
        RawTensor doubled = result.getOutputs(0);
        assertEquals(List.of(4L), doubled.getShapeList());
        float[] actual = new float[4];
        doubled.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(actual);
        assertArrayEquals(new float[] {2f, 4f, 6f, 9f}, actual);
        RawTensor sum = result.getOutputs(1);
        assertEquals(List.of(), sum.getShapeList());
        assertEquals(10.5f, sum.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).getFloat(), 1e-6f);
    }

    @Test
    void grayscaleModelTakesColourPictures() {
        Result result = predictOne("gray", TestImages.pixels(TestImages.picture(50, 30, 2)));
        assertEquals(5, result.getClassesCount());
    }

    @Test
    void twoModelsServeAtTheSameTime() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Callable<Result>> calls = List.of(
                    () -> predictOne("cnn", TestImages.pixels(TestImages.picture(32, 32, 1))),
                    () -> predictOne("gray", TestImages.pixels(TestImages.picture(32, 32, 1))),
                    () -> predictOne("slow", TestImages.pixels(TestImages.picture(32, 32, 1))),
                    () -> predictOne("cnn", TestImages.pixels(TestImages.picture(32, 32, 2))));
            for (Future<Result> result : pool.invokeAll(calls)) {
                assertTrue(result.get().getClassesCount() > 0);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void listModelsReportsReadyAndFailedModels() {
        Map<String, ModelInfo> models = server.blocking().listModels(ListModelsRequest.getDefaultInstance())
                .getModelsList().stream().collect(Collectors.toMap(ModelInfo::getName, m -> m));
        assertEquals(List.of("batched", "broken", "cnn", "gray", "raw", "slow", "triton_cnn"),
                models.keySet().stream().sorted().toList());
        assertEquals(ModelStatus.MODEL_STATUS_READY, models.get("cnn").getStatus());
        assertEquals(ModelStatus.MODEL_STATUS_FAILED, models.get("broken").getStatus());
        assertTrue(!models.get("broken").getStatusMessage().isBlank());
    }

    @Test
    void getModelDescribesInputsOutputsLabelsAndPreprocessing() {
        ModelInfo cnn = server.blocking().getModel(GetModelRequest.newBuilder().setName("cnn").build());
        assertEquals("cpu", cnn.getDevice());
        assertEquals(10, cnn.getLabelsCount());
        assertEquals("airplane", cnn.getLabels(0));
        assertEquals(List.of(-1L, 3L, 32L, 32L), cnn.getInput().getShapeList());
        assertEquals(1, cnn.getOutputsCount());
        assertEquals(List.of(-1L, 10L), cnn.getOutputs(0).getShapeList());
        assertEquals("float32", cnn.getOutputs(0).getDtype());
        assertEquals(36, cnn.getConfig().getPreprocessing().getResizeShorterSide());
        assertEquals(8, cnn.getConfig().getMaxBatchSize());
    }
}
