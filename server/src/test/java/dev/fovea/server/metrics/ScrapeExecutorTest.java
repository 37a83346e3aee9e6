package dev.fovea.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The metrics endpoint answers any number of scrapes with one thread. */
class ScrapeExecutorTest {

    private static final int SCRAPERS = 8;
    private static final int SCRAPES_EACH = 15;

    @Test
    void aHundredAndTwentyScrapesLeaveAtMostOneScrapeThread() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        try (HTTPServer http = HTTPServer.builder().hostname("127.0.0.1").port(0).registry(metrics.registry())
                        .executorService(ScrapeExecutor.create()).buildAndStart();
                HttpClient client = HttpClient.newBuilder().executor(Runnable::run).build()) {
            URI uri = URI.create("http://127.0.0.1:" + http.getPort() + "/metrics");
            scrape(client, uri);
            int baseline = Thread.activeCount();

            ExecutorService scrapers = Executors.newFixedThreadPool(SCRAPERS);
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < SCRAPERS; i++) {
                done.add(scrapers.submit(() -> {
                    for (int j = 0; j < SCRAPES_EACH; j++) {
                        scrape(client, uri);
                    }
                    return null;
                }));
            }
            for (Future<?> scraper : done) {
                scraper.get();
            }
            scrapers.shutdown();
            scrapers.awaitTermination(1, TimeUnit.MINUTES);

            long scrapeThreads = Thread.getAllStackTraces().keySet().stream()
                    .filter(thread -> thread.getName().equals("fovea-metrics")).count();
            assertTrue(scrapeThreads <= 1, scrapeThreads + " scrape threads");
            assertTrue(Thread.activeCount() <= baseline, "threads: " + baseline + " after the first scrape, "
                    + Thread.activeCount() + " after " + SCRAPERS * SCRAPES_EACH + " more");
        }
    }

    private static void scrape(HttpClient client, URI uri) throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(uri).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
    }
}
