package dev.fovea.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.fovea.server.ModelFolders;
import dev.fovea.server.TestServer;
import dev.fovea.server.repository.ModelRepository;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Triton's REST model repository extension: POST /v2/repository/models/{m}/load and /unload. */
@Timeout(170)
class HttpModelControlTest {

    @TempDir
    Path repository;

    private TestServer server;
    private HttpServer http;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @AfterEach
    void stop() throws Exception {
        client.close();
        if (http != null) {
            http.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private HttpResponse<String> post(String path, String json) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + path))
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonObject indexRow(int row) throws Exception {
        JsonArray index = JsonParser.parseString(post("/v2/repository/index", "").body()).getAsJsonArray();
        return index.get(row).getAsJsonObject();
    }

    @Test
    void loadWithAConfigParameterThenUnload() throws Exception {
        ModelFolders.plain(repository, "cnn");
        server = TestServer.start(repository, ModelRepository.ControlMode.EXPLICIT, List.of());
        http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, 1 << 20, 1, HttpAccess.OPEN);
        assertEquals("UNAVAILABLE", indexRow(0).get("state").getAsString());

        HttpResponse<String> load = post("/v2/repository/models/cnn/load",
                "{\"parameters\": {\"config\": \"{\\\"maxBatchSize\\\": 4}\"}}");
        assertEquals(200, load.statusCode(), load.body());
        assertEquals("READY", indexRow(0).get("state").getAsString());
        assertEquals(4, server.server().repository().find("cnn").orElseThrow().info().getConfig().getMaxBatchSize());

        assertEquals(400, post("/v2/repository/models/cnn/load", "{\"parameters\": {\"config\": \"{oops\"}}")
                .statusCode());
        assertEquals(400, post("/v2/repository/models/cnn/load", "{\"parameters\": {\"config\": [1]}}")
                .statusCode());
        assertEquals(400, post("/v2/repository/models/%2E%2E/load", "").statusCode());
        assertEquals(400, post("/v2/repository/models/a%2Fb/load", "").statusCode());
        HttpResponse<String> missing = post("/v2/repository/models/missing/load", "");
        assertEquals(404, missing.statusCode(), missing.body());

        HttpResponse<String> unload = post("/v2/repository/models/cnn/unload",
                "{\"parameters\": {\"unload_dependents\": true}}");
        assertEquals(200, unload.statusCode(), unload.body());
        JsonObject row = indexRow(0);
        assertEquals("UNAVAILABLE", row.get("state").getAsString());
        assertTrue(row.get("reason").getAsString().contains("unloaded"), row.toString());
    }

    @Test
    void modeNoneRefusesWithServiceUnavailable() throws Exception {
        server = TestServer.start();
        http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, 1 << 20, 1, HttpAccess.OPEN);
        HttpResponse<String> refused = post("/v2/repository/models/cnn/unload", "");
        assertEquals(503, refused.statusCode(), refused.body());
        assertTrue(refused.body().contains("--model-control-mode"), refused.body());
    }
}
