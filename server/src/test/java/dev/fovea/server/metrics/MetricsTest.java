package dev.fovea.server.metrics;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.v1.PredictRequest;
import io.grpc.StatusRuntimeException;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.lang.foreign.Arena;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** What a Prometheus scrape of /metrics shows after a few requests. */
class MetricsTest {

    @Test
    void scrapeShowsRequestsStagesBatchSizesAndQueueDepth() throws Exception {
        try (TestServer server = TestServer.start();
                HTTPServer http = HTTPServer.builder().hostname("127.0.0.1").port(0)
                        .registry(server.metrics().registry()).buildAndStart()) {
            PredictRequest good = PredictRequest.newBuilder().setModel("cnn")
                    .addImages(TestImages.pixels(TestImages.picture(32, 32, 1)))
                    .addImages(TestImages.pixels(TestImages.picture(32, 32, 2))).build();
            server.blocking().predict(good);
            server.blocking().predict(good);
            assertThrows(StatusRuntimeException.class, () -> server.blocking().predict(
                    PredictRequest.newBuilder().setModel("no-such-model").addImages(good.getImages(0)).build()));
            assertThrows(StatusRuntimeException.class, () -> server.blocking().predict(
                    PredictRequest.newBuilder().setModel("cnn").build()));

            String text = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.getPort() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();

            assertContains(text, "fovea_requests_total{model=\"cnn\",outcome=\"ok\"} 2.0");
            assertContains(text, "fovea_requests_total{model=\"cnn\",outcome=\"invalid_argument\"} 1.0");
            assertContains(text, "fovea_requests_total{model=\"unknown\",outcome=\"not_found\"} 1.0");
            // The warm-up at load time is a batch of one, so cnn has run three batches of 1 + 2 + 2 images.
            assertContains(text, "fovea_batch_size_count{model=\"cnn\"} 3");
            assertContains(text, "fovea_batch_size_sum{model=\"cnn\"} 5.0");
            for (String stage : new String[] {"queue", "preprocess", "compute", "postprocess"}) {
                assertContains(text, "fovea_stage_duration_seconds_count{model=\"cnn\",stage=\"" + stage + "\"} 3");
            }
            assertContains(text, "fovea_queue_depth{model=\"cnn\"} 0.0");
            assertContains(text, "fovea_native_memory_bytes ");
        }
    }

    @Test
    void nativeMemoryGaugeFollowsNativeAllocations() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        long before = nativeMemory(metrics);
        try (Arena arena = Arena.ofConfined()) {
            arena.allocate(64L << 20).fill((byte) 1);
            long during = nativeMemory(metrics);
            // The gauge is the whole process's: other threads (Cleaners and the gRPC transport freeing an earlier
            // test's tensors and buffers) allocate and free at the same time, so the check allows them 16 MiB.
            assertTrue(during - before >= 48L << 20, "64 MiB allocated: " + before + " -> " + during);
        }
        long after = nativeMemory(metrics);
        assertTrue(after < before + (16L << 20), "64 MiB freed: " + before + " -> " + after);
    }

    private static long nativeMemory(ServerMetrics metrics) {
        return metrics.registry().scrape().stream()
                .filter(snapshot -> snapshot.getMetadata().getName().equals("fovea_native_memory_bytes"))
                .map(snapshot -> (long) ((GaugeSnapshot) snapshot).getDataPoints().getFirst().getValue())
                .findFirst().orElseThrow(() -> new AssertionError("no fovea_native_memory_bytes"));
    }

    private static void assertContains(String text, String line) {
        assertTrue(text.contains(line), "no line " + line + " in:\n" + text);
    }
}
