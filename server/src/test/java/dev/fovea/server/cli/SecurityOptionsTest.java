package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.security.TestCertificates;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code fovea serve}'s security options: bad combinations stop it at start, the health and metrics policies reach
 * the listeners, exposure is warned about.
 */
class SecurityOptionsTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;

    @BeforeAll
    static void createCertificates() throws Exception {
        pki = TestCertificates.create(dir);
    }

    @Command(name = "options")
    static final class Holder {
        @Mixin
        SecurityOptions security;
    }

    private record Outcome(String error, String warning) {}

    private static SecurityOptions loaded(String... args) {
        Holder holder = new Holder();
        CommandLine commandLine = new CommandLine(holder);
        commandLine.parseArgs(args);
        holder.security.load(commandLine);
        return holder.security;
    }

    /** The status of a health check, without a token, on a TCP listener built from the options. */
    private static Status.Code healthWithoutToken(SecurityOptions security) throws Exception {
        HealthStatusManager health = new HealthStatusManager();
        Server server = security.tcpListener(new InetSocketAddress("127.0.0.1", 0))
                .addService(health.getHealthService()).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try {
            HealthGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        } finally {
            channel.shutdownNow();
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** The HTTP status of a scrape without a token of a metrics endpoint built from the options. */
    private static int scrapeWithoutToken(SecurityOptions security) throws Exception {
        HTTPServer metrics = security.metrics(HTTPServer.builder()).hostname("127.0.0.1").port(0)
                .registry(new PrometheusRegistry()).buildAndStart();
        try (HttpClient client = HttpClient.newHttpClient()) {
            return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metrics.getPort() + "/metrics"))
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } finally {
            metrics.close();
        }
    }

    /** Parses and loads the options, then asks for the exposure warning as {@code serve} does for {@code host}. */
    private static Outcome load(String host, String... args) throws Exception {
        Holder holder = new Holder();
        CommandLine commandLine = new CommandLine(holder);
        commandLine.parseArgs(args);
        try {
            holder.security.load(commandLine);
        } catch (CommandLine.ParameterException e) {
            return new Outcome(e.getMessage(), "");
        }
        StringWriter err = new StringWriter();
        holder.security.warnIfExposed(host, new PrintWriter(err));
        return new Outcome(null, err.toString());
    }

    private static String[] tls(String... more) {
        List<String> args = new ArrayList<>(List.of("--tls-cert", pki.serverCert().toString(), "--tls-key",
                pki.serverKey().toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void aCertificateWithoutItsKeyIsAUsageError() throws Exception {
        assertEquals("--tls-cert and --tls-key go together",
                load("127.0.0.1", "--tls-cert", pki.serverCert().toString()).error());
    }

    @Test
    void optionalClientCertificatesWithoutATokenFileAreAUsageError() throws Exception {
        String error = load("127.0.0.1", tls("--tls-client-ca", pki.ca().toString(), "--tls-client-auth",
                "optional")).error();

        assertTrue(error.contains("--auth-token-file"), error);
    }

    @Test
    void aTokenFileWithoutTokensIsAUsageErrorNamingTheFile() throws Exception {
        Path tokens = Files.writeString(dir.resolve("empty-tokens"), "\n");

        String error = load("127.0.0.1", "--auth-token-file", tokens.toString()).error();

        assertTrue(error.contains("empty-tokens"), error);
    }

    @Test
    void aMistypedPolicyIsAUsageError() throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "t0ken\n");

        String error = load("127.0.0.1", "--auth-token-file", tokens.toString(), "--health-auth", "open").error();

        assertTrue(error.contains("--health-auth is token or none"), error);
    }

    @Test
    void healthIsOpenUnlessHealthAuthAsksForTheToken() throws Exception {
        Path tokens = Files.writeString(dir.resolve("health-tokens"), "t0ken\n");

        assertEquals(Status.Code.OK, healthWithoutToken(loaded("--auth-token-file", tokens.toString())));
        assertEquals(Status.Code.UNAUTHENTICATED, healthWithoutToken(loaded("--auth-token-file", tokens.toString(),
                "--health-auth", "token")));
    }

    @Test
    void metricsWantTheTokenUnlessMetricsAuthIsNone() throws Exception {
        Path tokens = Files.writeString(dir.resolve("metrics-tokens"), "t0ken\n");

        assertEquals(401, scrapeWithoutToken(loaded("--auth-token-file", tokens.toString())));
        assertEquals(200, scrapeWithoutToken(loaded("--auth-token-file", tokens.toString(), "--metrics-auth",
                "none")));
    }

    @Test
    void allInterfacesWithoutTlsOrAuthenticationAreWarnedAbout() throws Exception {
        Outcome outcome = load("0.0.0.0");

        assertTrue(outcome.warning().contains("WARNING: listening on 0.0.0.0 without TLS or client authentication"),
                outcome.warning());
    }

    @Test
    void tlsWithoutClientAuthenticationIsWarnedAbout() throws Exception {
        Outcome outcome = load("0.0.0.0", tls());

        assertTrue(outcome.warning().contains("without client authentication"), outcome.warning());
    }

    @Test
    void tlsWithATokenOrRequiredCertificatesOrLoopbackIsQuiet() throws Exception {
        Path tokens = Files.writeString(dir.resolve("quiet-tokens"), "t0ken\n");

        assertEquals("", load("0.0.0.0", tls("--auth-token-file", tokens.toString())).warning());
        assertEquals("", load("0.0.0.0", tls("--tls-client-ca", pki.ca().toString())).warning());
        assertFalse(load("127.0.0.1").warning().contains("WARNING"));
    }
}
