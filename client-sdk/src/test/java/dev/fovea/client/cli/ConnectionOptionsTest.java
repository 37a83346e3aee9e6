package dev.fovea.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.client.FakeInferenceService;
import dev.fovea.client.TestCertificates;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.NettyServerBuilder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code fovea-client}'s TLS and token flags against a TLS server that wants one token. */
class ConnectionOptionsTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;
    private static Server server;

    @BeforeAll
    static void start() throws Exception {
        pki = TestCertificates.create(dir);
        ServerInterceptor wantToken = new ServerInterceptor() {
            @Override
            public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call,
                    Metadata headers, ServerCallHandler<ReqT, RespT> next) {
                if ("Bearer cli-token".equals(
                        headers.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER)))) {
                    return next.startCall(call, headers);
                }
                call.close(Status.UNAUTHENTICATED.withDescription("the bearer token is not accepted"), new Metadata());
                return new ServerCall.Listener<>() {};
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), TlsServerCredentials
                        .newBuilder().keyManager(pki.serverCert().toFile(), pki.serverKey().toFile()).build())
                .addService(new FakeInferenceService()).intercept(wantToken).build().start();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private record Run(int exitCode, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = FoveaClientCli.commandLine(new FoveaClientCli());
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        return new Run(commandLine.execute(args), out.toString(), err.toString());
    }

    @Test
    void modelsAreListedOverTlsWithTheTokenFromTheFile() throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "cli-token\n");

        Run run = run("--target", "127.0.0.1:" + server.getPort(), "--tls-ca", pki.ca().toString(),
                "--token-file", token.toString(), "models");

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains(FakeInferenceService.MODELS.getFirst().getName()), run.out());
    }

    @Test
    void aWrongTokenFailsWithOneLineThatDoesNotQuoteIt() throws Exception {
        Path token = Files.writeString(dir.resolve("wrong-token"), "not-the-cli-token\n");

        Run run = run("--target", "127.0.0.1:" + server.getPort(), "--tls-ca", pki.ca().toString(),
                "--token-file", token.toString(), "models");

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("fovea-client models: UNAUTHENTICATED"), run.err());
        assertFalse(run.err().contains("not-the-cli-token"), run.err());
    }

    @Test
    void aCertificateWithoutItsKeyIsReportedInOneLine() {
        Run run = run("--target", "127.0.0.1:" + server.getPort(), "--tls-cert", pki.clientCert().toString(),
                "models");

        assertEquals(1, run.exitCode());
        assertEquals("fovea-client models: --tls-cert and --tls-key go together", run.err().strip());
    }
}
