package dev.fovea.server.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.sharedmemory.SharedMemoryAccess;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP/REST binding over real Netty on loopback, in front of the same service gRPC clients reach. */
class HttpBindingTest {

    private static final int MAX_BODY = 1 << 20;

    @TempDir
    static Path shm;

    private static TestServer server;
    private static HttpServer http;
    private static HttpClient client;

    @BeforeAll
    static void start() throws Exception {
        // HTTP callers are network callers: shared memory for them is --allow-shared-memory-tcp.
        server = TestServer.start(64, SharedMemoryRegistry.enabled(shm,
                new SharedMemoryAccess(true, Set.of(SharedMemoryAccess.serverUid()))));
        http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, MAX_BODY, 1, HttpAccess.OPEN);
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void stop() throws Exception {
        http.close();
        server.close();
    }

    private record Answer(int status, Map<String, List<String>> headers, byte[] body) {
        JsonObject json() {
            return JsonParser.parseString(text()).getAsJsonObject();
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        String error() {
            return json().get("error").getAsString();
        }
    }

    private static Answer send(String method, String path, byte[] body, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        if (headers.length > 0) {
            request.headers(headers);
        }
        HttpResponse<byte[]> response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        return new Answer(response.statusCode(), response.headers().map(), response.body());
    }

    private static Answer get(String path) throws Exception {
        return send("GET", path, null);
    }

    private static Answer post(String path, String json) throws Exception {
        return send("POST", path, json.getBytes(StandardCharsets.UTF_8));
    }

    /** A JSON header followed by binary parts, as Triton's binary tensor extension lays a body out. */
    private static Answer postBinary(String path, String json, byte[]... parts) throws Exception {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        body.writeBytes(header);
        for (byte[] part : parts) {
            body.writeBytes(part);
        }
        return send("POST", path, body.toByteArray(), "Inference-Header-Content-Length",
                String.valueOf(header.length));
    }

    private static byte[] floats(float... values) {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            bytes.putFloat(value);
        }
        return bytes.array();
    }

    @Test
    void healthAndServerMetadataAnswer() throws Exception {
        assertEquals(200, get("/v2/health/live").status());
        assertEquals(200, get("/v2/health/ready").status());
        JsonObject metadata = get("/v2").json();
        assertEquals("fovea", metadata.get("name").getAsString());
        assertTrue(metadata.get("extensions").toString().contains("system_shared_memory"));
    }

    @Test
    void modelMetadataReadyConfigAndStatisticsAnswerForAModelAndItsVersion() throws Exception {
        JsonObject metadata = get("/v2/models/triton_cnn/versions/1").json();
        assertEquals("[-1,3,32,32]", metadata.getAsJsonArray("inputs").get(0).getAsJsonObject().get("shape")
                .toString(), "shapes are numbers, as KServe clients expect");
        assertEquals(200, get("/v2/models/cnn/ready").status());
        assertEquals(400, get("/v2/models/broken/ready").status(), "a model that failed to load is not ready");
        assertEquals(404, get("/v2/models/cnn/versions/2").status());
        JsonObject config = get("/v2/models/triton_cnn/config").json();
        assertEquals(4, config.get("max_batch_size").getAsInt());
        assertEquals("TYPE_FP32", config.getAsJsonArray("input").get(0).getAsJsonObject().get("data_type")
                .getAsString());
        assertEquals("cnn", get("/v2/models/cnn/stats").json().getAsJsonArray("model_stats").get(0)
                .getAsJsonObject().get("name").getAsString());
        assertTrue(get("/v2/models/stats").json().getAsJsonArray("model_stats").size() >= 5);
        JsonArray index = JsonParser.parseString(post("/v2/repository/index", "{\"ready\": true}").text())
                .getAsJsonArray();
        assertTrue(index.toString().contains("\"name\":\"cnn\"") && !index.toString().contains("broken"));
    }

    @Test
    void jsonInferenceOnTheRawModelTakesNestedDataAndCountsInStatistics() throws Exception {
        long before = get("/v2/models/raw/stats").json().getAsJsonArray("model_stats").get(0).getAsJsonObject()
                .get("inference_count").getAsLong();
        Answer answer = post("/v2/models/raw/infer", """
                {"id": "r1", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                  "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}]}""");
        assertEquals(200, answer.status(), answer.text());
        JsonObject json = answer.json();
        assertEquals("r1", json.get("id").getAsString());
        JsonObject sums = json.getAsJsonArray("outputs").get(1).getAsJsonObject();
        assertEquals("output_1", sums.get("name").getAsString());
        assertEquals("[10.0,26.0]", sums.get("data").toString());
        long after = get("/v2/models/raw/stats").json().getAsJsonArray("model_stats").get(0).getAsJsonObject()
                .get("inference_count").getAsLong();
        assertEquals(before + 2, after, "statistics count HTTP requests like gRPC ones");
    }

    @Test
    void jsonInferenceOnTritonCnnAnswersWhatGrpcAnswers() throws Exception {
        float[] input = new float[2 * 3 * 32 * 32];
        for (int i = 0; i < input.length; i++) {
            input[i] = (i % 97) / 97f;
        }
        Answer answer = post("/v2/models/triton_cnn/infer", "{\"inputs\": [{\"name\": \"INPUT__0\", \"shape\": "
                + "[2, 3, 32, 32], \"datatype\": \"FP32\", \"data\": " + Arrays.toString(input) + "}]}");
        assertEquals(200, answer.status(), answer.text());
        JsonArray data = answer.json().getAsJsonArray("outputs").get(0).getAsJsonObject().getAsJsonArray("data");
        ModelInferResponse grpc = GRPCInferenceServiceGrpc.newBlockingStub(server.channel()).modelInfer(
                ModelInferRequest.newBuilder().setModelName("triton_cnn").addInputs(
                        ModelInferRequest.InferInputTensor.newBuilder().setName("INPUT__0").setDatatype("FP32")
                                .addShape(2).addShape(3).addShape(32).addShape(32))
                        .addRawInputContents(ByteString.copyFrom(floats(input))).build());
        ByteBuffer expected = grpc.getRawOutputContents(0).asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(20, data.size());
        for (int i = 0; i < data.size(); i++) {
            assertEquals(expected.getFloat(), data.get(i).getAsFloat(), 0f, "logit " + i);
        }
    }

    @Test
    void binaryTensorsGoInAndComeOut() throws Exception {
        Answer answer = postBinary("/v2/models/raw/infer", """
                {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                  "parameters": {"binary_data_size": 32}}],
                 "outputs": [{"name": "output_1", "parameters": {"binary_data": true}}]}""",
                floats(1, 2, 3, 4, 5, 6, 7, 8));
        assertEquals(200, answer.status(), answer.text());
        int jsonLength = Integer.parseInt(answer.headers().get("inference-header-content-length").getFirst());
        JsonObject json = JsonParser.parseString(new String(answer.body(), 0, jsonLength, StandardCharsets.UTF_8))
                .getAsJsonObject();
        JsonObject output = json.getAsJsonArray("outputs").get(0).getAsJsonObject();
        assertEquals(8, output.getAsJsonObject("parameters").get("binary_data_size").getAsInt());
        assertArrayEquals(floats(10, 26), Arrays.copyOfRange(answer.body(), jsonLength, answer.body().length));
    }

    @Test
    void binaryDataOutputAsksForEveryOutputInBinary() throws Exception {
        Answer answer = post("/v2/models/raw/infer", """
                {"parameters": {"binary_data_output": true}, "inputs": [{"name": "input", "shape": [1, 4],
                  "datatype": "FP32", "data": [1, 1, 1, 1]}]}""");
        assertEquals(200, answer.status(), answer.text());
        int jsonLength = Integer.parseInt(answer.headers().get("inference-header-content-length").getFirst());
        assertEquals(16 + 4, answer.body().length - jsonLength, "output_0 (4 floats) then output_1 (1 float)");
    }

    @Test
    void classificationReturnsTheTopClassesWithLabels() throws Exception {
        Answer answer = post("/v2/models/triton_cnn/infer", "{\"inputs\": [{\"name\": \"INPUT__0\", \"shape\": "
                + "[1, 3, 32, 32], \"datatype\": \"FP32\", \"data\": " + Arrays.toString(new float[3072])
                + "}], \"outputs\": [{\"name\": \"OUTPUT__0\", \"parameters\": {\"classification\": 3}}]}");
        assertEquals(200, answer.status(), answer.text());
        JsonObject output = answer.json().getAsJsonArray("outputs").get(0).getAsJsonObject();
        assertEquals("BYTES", output.get("datatype").getAsString());
        assertEquals("[1,3]", output.get("shape").toString());
        assertTrue(output.getAsJsonArray("data").get(0).getAsString().matches("-?[0-9.E-]+:[0-9]+:\\w+"),
                output.toString());
    }

    @Test
    void aPictureModelTakesAUint8FrameAndEncodedImages() throws Exception {
        BufferedImage picture = TestImages.picture(32, 32, 3);
        Answer frame = postBinary("/v2/models/cnn/infer", """
                {"inputs": [{"name": "input", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                  "parameters": {"binary_data_size": 3072}}]}""", TestImages.rgb(picture, 96));
        assertEquals(200, frame.status(), frame.text());
        String logits = frame.json().getAsJsonArray("outputs").get(0).getAsJsonObject().get("data").toString();
        for (String format : new String[] {"png", "jpg"}) {
            ByteArrayOutputStream encoded = new ByteArrayOutputStream();
            ImageIO.write(picture, format, encoded);
            byte[] image = encoded.toByteArray();
            byte[] element = ByteBuffer.allocate(4 + image.length).order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(image.length).put(image).array();
            Answer answer = postBinary("/v2/models/cnn/infer", "{\"inputs\": [{\"name\": \"input\", \"shape\": [1], "
                    + "\"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": " + element.length + "}}], "
                    + "\"outputs\": [{\"name\": \"output_0\", \"parameters\": {\"classification\": 1}}]}", element);
            assertEquals(200, answer.status(), format + ": " + answer.text());
            assertEquals(1, answer.json().getAsJsonArray("outputs").get(0).getAsJsonObject().getAsJsonArray("data")
                    .size());
        }
        assertEquals(10, JsonParser.parseString(logits).getAsJsonArray().size());
    }

    @Test
    void badRequestsGetJsonErrorsWithKserveStatusCodes() throws Exception {
        double refusedBefore = refused("raw");
        Answer badJson = post("/v2/models/raw/infer", "{\"inputs\": [");
        assertEquals(400, badJson.status());
        assertTrue(badJson.error().startsWith("invalid JSON"), badJson.error());
        assertEquals(refusedBefore + 1, refused("raw"), "an unreadable body counts as the model's refused request");
        Answer wrongCount = post("/v2/models/raw/infer",
                "{\"inputs\": [{\"name\": \"input\", \"shape\": [2, 4], \"datatype\": \"FP32\", \"data\": [1, 2]}]}");
        assertEquals(400, wrongCount.status());
        assertTrue(wrongCount.error().contains("shape holds 8"), wrongCount.error());
        Answer wrongShape = post("/v2/models/triton_cnn/infer", "{\"inputs\": [{\"name\": \"INPUT__0\", \"shape\": "
                + "[1, 3, 31, 32], \"datatype\": \"FP32\", \"data\": " + Arrays.toString(new float[2976]) + "}]}");
        assertEquals(400, wrongShape.status());
        assertTrue(wrongShape.error().contains("INPUT__0"), wrongShape.error());
        Answer wrongType = post("/v2/models/triton_cnn/infer", "{\"inputs\": [{\"name\": \"INPUT__0\", \"shape\": "
                + "[1, 3, 32, 32], \"datatype\": \"INT32\", \"data\": " + Arrays.toString(new int[3072]) + "}]}");
        assertEquals(400, wrongType.status());
        assertTrue(wrongType.error().contains("INT32"), wrongType.error());
        Answer notANumber = post("/v2/models/raw/infer",
                "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1], \"datatype\": \"UINT8\", \"data\": [300]}]}");
        assertEquals(400, notANumber.status());
        Answer leftover = postBinary("/v2/models/raw/infer",
                "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1], \"datatype\": \"FP32\", "
                        + "\"parameters\": {\"binary_data_size\": 4}}]}", floats(1, 2));
        assertEquals(400, leftover.status());
        assertTrue(leftover.error().contains("binary_data_size"), leftover.error());
        assertEquals(414, get("/v2/models/" + "m".repeat(10_000)).status());
        String longName = "m".repeat(3_000);
        Answer unknownModel = post("/v2/models/" + longName + "/infer",
                "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1], \"datatype\": \"FP32\", \"data\": [1]}]}");
        assertEquals(404, unknownModel.status());
        assertTrue(unknownModel.body().length < 2_000, "a client's long name is not echoed whole");
        assertEquals(404, get("/v2/nothing/here").status());
        assertEquals(404, get("/metrics").status());
        Answer wrongMethod = get("/v2/models/raw/infer");
        assertEquals(405, wrongMethod.status());
        assertEquals("POST", wrongMethod.headers().get("allow").getFirst());
    }

    private static double refused(String model) {
        return server.metrics().registry().scrape().stream()
                .filter(snapshot -> snapshot.getMetadata().getPrometheusName().equals("fovea_requests"))
                .flatMap(snapshot -> ((CounterSnapshot) snapshot).getDataPoints().stream())
                .filter(point -> point.getLabels().get("model").equals(model)
                        && point.getLabels().get("outcome").equals("invalid_argument"))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    @Test
    void pipelinedRequestsAreAnsweredInTheOrderTheyCame() throws Exception {
        byte[] frame = new byte[16 * 16 * 3];
        String header = "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 16, 16, 3], \"datatype\": \"UINT8\", "
                + "\"parameters\": {\"binary_data_size\": " + frame.length + "}}]}";
        ByteArrayOutputStream requests = new ByteArrayOutputStream();
        requests.writeBytes(("POST /v2/models/slow/infer HTTP/1.1\r\nHost: test\r\nInference-Header-Content-Length: "
                + header.length() + "\r\nContent-Length: " + (header.length() + frame.length) + "\r\n\r\n" + header)
                .getBytes(StandardCharsets.US_ASCII));
        requests.writeBytes(frame);
        requests.writeBytes("GET /v2/health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
        try (Socket socket = new Socket("127.0.0.1", http.port())) {
            socket.getOutputStream().write(requests.toByteArray());
            String answers = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            int infer = answers.indexOf("\"model_name\":\"slow\"");
            int live = answers.lastIndexOf("HTTP/1.1 200 OK");
            assertTrue(infer > 0 && live > infer, "the slow inference is answered first: " + answers);
        }
    }

    @Test
    void aBodyOverTheLimitIs413AndTheConnectionGoesOn() throws Exception {
        Answer tooLarge = send("POST", "/v2/models/raw/infer", new byte[MAX_BODY + 1]);
        assertEquals(413, tooLarge.status());
        assertTrue(tooLarge.error().contains("--max-message-bytes"), tooLarge.error());
        assertEquals(200, get("/v2/health/live").status());
    }

    @Test
    void aJsonTensorOverTheLimitIsRefusedBeforeItIsAllocated() throws Exception {
        Answer answer = post("/v2/models/raw/infer", "{\"inputs\": [{\"name\": \"input\", \"shape\": [1000000, "
                + "1000000], \"datatype\": \"FP64\", \"data\": [1]}]}");
        assertEquals(400, answer.status());
        assertTrue(answer.error().contains("limit"), answer.error());
    }

    @Test
    void systemSharedMemoryRegistersListsAndUnregisters() throws Exception {
        Files.write(shm.resolve("frames"), new byte[4096]);
        assertEquals(200, post("/v2/systemsharedmemory/region/cam0/register",
                "{\"key\": \"frames\", \"offset\": 0, \"byte_size\": 4096}").status());
        JsonArray regions = JsonParser.parseString(get("/v2/systemsharedmemory/region/cam0/status").text())
                .getAsJsonArray();
        assertEquals(4096, regions.get(0).getAsJsonObject().get("byte_size").getAsInt());
        assertEquals(400, post("/v2/systemsharedmemory/region/cam0/register",
                "{\"key\": \"frames\", \"offset\": 0, \"byte_size\": 4096}").status(), "already registered");
        assertEquals(200, post("/v2/systemsharedmemory/region/cam0/unregister", "").status());
        assertEquals("[]", get("/v2/systemsharedmemory/status").text());
        assertEquals(200, post("/v2/systemsharedmemory/unregister", "").status());
    }
}
