package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Prometheus endpoint as {@code fovea serve} secures it: HTTPS with the server's certificate, and the token. */
class MetricsEndpointTest {

    private static final String TOKEN = "scrape-token-41c2";

    @TempDir
    static Path dir;

    private static HTTPServer metrics;
    private static HttpClient client;

    @BeforeAll
    static void start() throws Exception {
        TestCertificates pki = TestCertificates.create(dir);
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter.builder().name("fovea_test_scrapes").register(registry).inc();
        metrics = HTTPServer.builder().hostname("127.0.0.1").port(0).registry(registry)
                .httpsConfigurator(ServerTls.builder(pki.serverCert(), pki.serverKey()).build().httpsConfigurator())
                .authenticator(new BearerAuthenticator(BearerTokens.of(TOKEN), false)).buildAndStart();
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("ca", PemFiles.certificates(pki.ca()).getFirst());
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trusted);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, trust.getTrustManagers(), null);
        client = HttpClient.newBuilder().sslContext(tls).connectTimeout(Duration.ofSeconds(30)).build();
    }

    @AfterAll
    static void stop() {
        client.close();
        metrics.close();
    }

    private static HttpResponse<String> scrape(String scheme, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(
                URI.create(scheme + "://127.0.0.1:" + metrics.getPort() + "/metrics")).timeout(Duration.ofSeconds(30));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aScrapeOverHttpsWithTheTokenGetsTheMetrics() throws Exception {
        HttpResponse<String> response = scrape("https", "Bearer " + TOKEN);

        assertEquals(200, response.statusCode());
        assertTrue(response.body().contains("fovea_test_scrapes_total 1"), response.body());
    }

    @Test
    void aScrapeWithoutTheRightTokenGets401() throws Exception {
        HttpResponse<String> missing = scrape("https", null);
        HttpResponse<String> wrong = scrape("https", "Bearer not-" + TOKEN);

        assertEquals(401, missing.statusCode());
        assertEquals(401, wrong.statusCode());
        assertTrue(missing.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"));
    }

    @Test
    void aPlaintextScrapeGetsNoMetrics() {
        assertThrows(IOException.class, () -> scrape("http", "Bearer " + TOKEN));
    }
}
