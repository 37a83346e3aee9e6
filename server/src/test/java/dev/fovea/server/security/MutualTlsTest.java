package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS and client certificates over real Netty on loopback, with grpc-java's own TLS client. */
class MutualTlsTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;
    private Server server;

    @BeforeAll
    static void createCertificates() throws Exception {
        pki = TestCertificates.create(dir);
    }

    @AfterEach
    void stop() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private void start(ServerTls tls, ServerInterceptor... interceptors) throws Exception {
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus("", ServingStatus.SERVING);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0),
                tls.grpcCredentials()).addService(health.getHealthService());
        for (ServerInterceptor interceptor : interceptors) {
            builder.intercept(interceptor);
        }
        server = builder.build().start();
    }

    private Status.Code check(ChannelCredentials credentials) {
        ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.getPort(), credentials)
                .overrideAuthority("localhost").build();
        try {
            HealthGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        } finally {
            channel.shutdownNow();
        }
    }

    private static ChannelCredentials trustingTheCa() throws Exception {
        return TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile()).build();
    }

    private static ChannelCredentials withCertificate(Path cert, Path key) throws Exception {
        return TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile())
                .keyManager(cert.toFile(), key.toFile()).build();
    }

    @Test
    void aClientTrustingTheCaTalksTls() throws Exception {
        start(ServerTls.builder(pki.serverCert(), pki.serverKey()).build());

        assertEquals(Status.Code.OK, check(trustingTheCa()));
    }

    @Test
    void aPlaintextClientCannotTalkToATlsServer() throws Exception {
        start(ServerTls.builder(pki.serverCert(), pki.serverKey()).build());

        assertEquals(Status.Code.UNAVAILABLE, check(InsecureChannelCredentials.create()));
    }

    @Test
    void aClientThatDoesNotTrustTheServersCaRefusesIt() throws Exception {
        start(ServerTls.builder(pki.serverCert(), pki.serverKey()).build());

        assertEquals(Status.Code.UNAVAILABLE,
                check(TlsChannelCredentials.newBuilder().trustManager(pki.strangerCert().toFile()).build()));
    }

    @Test
    void requiredClientAuthenticationAdmitsOnlyCertificatesFromTheClientCa() throws Exception {
        start(ServerTls.builder(pki.serverCert(), pki.serverKey()).clientCa(pki.ca()).build());

        assertEquals(Status.Code.OK, check(withCertificate(pki.clientCert(), pki.clientKey())));
        assertEquals(Status.Code.UNAVAILABLE, check(trustingTheCa()));
        assertEquals(Status.Code.UNAVAILABLE, check(withCertificate(pki.strangerCert(), pki.strangerKey())));
    }

    @Test
    void optionalClientAuthenticationAdmitsACertificateFromTheClientCaOrTheToken() throws Exception {
        start(ServerTls.builder(pki.serverCert(), pki.serverKey()).clientCa(pki.ca())
                .clientAuth(ServerTls.ClientAuth.OPTIONAL).build(),
                new BearerAuthInterceptor(BearerTokens.of("optional-token"), Set.of(), true));

        assertEquals(Status.Code.OK, check(withCertificate(pki.clientCert(), pki.clientKey())));
        assertEquals(Status.Code.UNAUTHENTICATED, check(trustingTheCa()));
        assertEquals(Status.Code.UNAUTHENTICATED, check(withCertificate(pki.strangerCert(), pki.strangerKey())),
                "a client offered another CA's certificate sends none, so it needs the token");
        assertEquals(Status.Code.OK, check(CompositeChannelCredentials.create(trustingTheCa(),
                new BearerCredentials("optional-token"))));
    }
}
