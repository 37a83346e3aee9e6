package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsServerCredentials;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FoveaClient against a server that requires mutual TLS, over real Netty on loopback: a private CA, a client
 * certificate, a server name and a bearer token, as a client of {@code fovea serve --tls-* --auth-token-file} sets
 * them.
 */
class SecureConnectionTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;
    private static Server server;
    private static final BlockingQueue<String> authorizations = new LinkedBlockingQueue<>();

    @BeforeAll
    static void start() throws Exception {
        pki = TestCertificates.create(dir);
        ServerInterceptor recordAuthorization = new ServerInterceptor() {
            @Override
            public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call,
                    Metadata headers, ServerCallHandler<ReqT, RespT> next) {
                String authorization = headers.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER));
                authorizations.add(authorization == null ? "(none)" : authorization);
                return next.startCall(call, headers);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), TlsServerCredentials
                        .newBuilder().keyManager(pki.serverCert().toFile(), pki.serverKey().toFile())
                        .trustManager(pki.ca().toFile()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE).build())
                .addService(new FakeInferenceService()).intercept(recordAuthorization).build().start();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static FoveaClient.Builder client() {
        return FoveaClient.forTarget("127.0.0.1:" + server.getPort());
    }

    @Test
    void aClientWithThePrivateCaItsCertificateAndATokenListsModels() throws Exception {
        authorizations.clear();
        try (FoveaClient client = client().trustedCertificates(pki.ca())
                .clientCertificate(pki.clientCert(), pki.clientKey()).bearerToken(BearerToken.of("s3cret")).build()) {
            assertEquals(FakeInferenceService.MODELS, client.listModels());
        }
        assertEquals("Bearer s3cret", authorizations.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void aClientWithoutItsCertificateIsRefusedByAServerThatRequiresOne() throws Exception {
        try (FoveaClient client = client().trustedCertificates(pki.ca()).build()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, client::listModels);
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        }
    }

    @Test
    void aClientTrustingOnlyTheSystemCasRefusesAPrivateCasServer() throws Exception {
        try (FoveaClient client = client().clientCertificate(pki.clientCert(), pki.clientKey()).build()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, client::listModels);
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        }
    }

    @Test
    void theServerNameCheckedIsTheOverriddenAuthority() throws Exception {
        try (FoveaClient named = client().trustedCertificates(pki.ca())
                        .clientCertificate(pki.clientCert(), pki.clientKey()).overrideAuthority("localhost").build();
                FoveaClient misnamed = client().trustedCertificates(pki.ca())
                        .clientCertificate(pki.clientCert(), pki.clientKey()).overrideAuthority("fovea.example")
                        .build()) {
            assertEquals(FakeInferenceService.MODELS, named.listModels());
            assertEquals(Status.Code.UNAVAILABLE,
                    assertThrows(StatusRuntimeException.class, misnamed::listModels).getStatus().getCode());
        }
    }

    @Test
    void aTokenFileGivesItsFirstTokenAndTheTokenNeverPrints() throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "# for fovea-client\n\n  t0ken-from-file \nsecond\n");
        BearerToken token = BearerToken.fromFile(file);

        assertFalse(token.toString().contains("t0ken"));
        authorizations.clear();
        try (FoveaClient client = client().trustedCertificates(pki.ca())
                .clientCertificate(pki.clientCert(), pki.clientKey()).bearerToken(token).build()) {
            client.listModels();
        }
        assertEquals("Bearer t0ken-from-file", authorizations.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void aBorrowedChannelKeepsItsTransportButTakesTheToken() throws Exception {
        var channel = InProcessChannelBuilder.forName("unused").build();
        try {
            FoveaClient.Builder borrowed = FoveaClient.using(channel);
            assertThrows(IllegalStateException.class, () -> borrowed.trustedCertificates(pki.ca()));
            assertThrows(IllegalStateException.class, () -> borrowed.overrideAuthority("localhost"));
            borrowed.bearerToken(BearerToken.of("kept")).build().close();
        } finally {
            channel.shutdownNow();
        }
    }
}
