package dev.fovea.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import dev.fovea.server.security.BearerTokens;
import dev.fovea.server.security.ServerTls;
import dev.fovea.server.security.TestCertificates;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP/REST port with the gRPC TCP listener's security: TLS with the server's certificate and the bearer token,
 * health open as the gRPC health service is by default. A server with TLS and a token must not keep a plaintext,
 * open door on its HTTP port.
 */
@Timeout(120)
class HttpSecurityTest {

    private static final String TOKEN = "http-token-7f3a";

    @TempDir
    static Path dir;

    private static TestServer server;
    private static HttpServer http;
    private static HttpClient client;

    @BeforeAll
    static void start() throws Exception {
        TestCertificates pki = TestCertificates.create(dir);
        server = TestServer.start();
        http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, 1 << 20, 1, new HttpAccess(
                ServerTls.builder(pki.serverCert(), pki.serverKey()).build().httpContext(), BearerTokens.of(TOKEN),
                true, false));
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        try (var pem = Files.newInputStream(pki.ca())) {
            trusted.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(pem));
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trusted);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, trust.getTrustManagers(), null);
        client = HttpClient.newBuilder().sslContext(tls).version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(30)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        http.close();
        server.close();
    }

    private static HttpResponse<String> get(String scheme, String path, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(scheme + "://127.0.0.1:" + http.port() + path))
                .timeout(Duration.ofSeconds(30));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void withTheTokenOverTlsEveryRouteAnswers() throws Exception {
        HttpResponse<String> metadata = get("https", "/v2", "Bearer " + TOKEN);
        assertEquals(200, metadata.statusCode(), metadata.body());
        assertTrue(metadata.body().contains("\"fovea\""), metadata.body());
        assertEquals(200, get("https", "/v2/models/cnn", "Bearer " + TOKEN).statusCode());
    }

    @Test
    void withoutTheRightTokenTheAnswerIs401AndNeverEchoesTheToken() throws Exception {
        HttpResponse<String> missing = get("https", "/v2/models/cnn", null);
        assertEquals(401, missing.statusCode());
        assertEquals("Bearer", missing.headers().firstValue("WWW-Authenticate").orElse(""));
        assertTrue(missing.body().startsWith("{\"error\":"), missing.body());
        HttpResponse<String> wrong = get("https", "/v2/models/cnn", "Bearer not-" + TOKEN);
        assertEquals(401, wrong.statusCode());
        assertFalse(wrong.body().contains(TOKEN), wrong.body());
    }

    @Test
    void modelControlNeedsTheTokenAndNoHealthPathReachesIt() throws Exception {
        HttpResponse<String> anonymous = send("/v2/repository/models/cnn/unload", null);
        assertEquals(401, anonymous.statusCode(), anonymous.body());
        for (String sneaky : List.of("/v2/health/../repository/models/cnn/unload",
                "/v2/health/%2E%2E/repository/models/cnn/unload", "/v2/health/live/../../repository/models/cnn/unload")) {
            assertEquals(404, send(sneaky, null).statusCode(), sneaky);
        }
        HttpResponse<String> withToken = send("/v2/repository/models/cnn/unload", "Bearer " + TOKEN);
        assertEquals(503, withToken.statusCode(), "past the token, mode none refuses: " + withToken.body());
    }

    private static HttpResponse<String> send(String path, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + http.port() + path))
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.noBody());
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void healthAnswersWithoutTheTokenAsTheGrpcHealthServiceDoes() throws Exception {
        assertEquals(200, get("https", "/v2/health/live", null).statusCode());
    }

    @Test
    void plaintextHttpGetsNoAnswer() {
        assertThrows(IOException.class, () -> get("http", "/v2/health/live", null));
    }
}
