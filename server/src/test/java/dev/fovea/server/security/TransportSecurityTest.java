package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ServerMetadataRequest;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real FoveaServer on TLS with bearer tokens, as {@code fovea serve --tls-cert --tls-key --auth-token-file} builds
 * its TCP listener, called by grpc-java over Netty: both APIs need the token, health does not, reflection does.
 */
class TransportSecurityTest {

    private static final String TOKEN = "fovea-test-token-7d1f";

    @TempDir
    static Path dir;

    private static FoveaServer server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        TestCertificates pki = TestCertificates.create(dir);
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(8, 2, metrics));
        ServerTls tls = ServerTls.builder(pki.serverCert(), pki.serverKey()).build();
        server = FoveaServer.builder(repository, metrics).callThreads(2).listener(NettyServerBuilder
                .forAddress(new InetSocketAddress("127.0.0.1", 0), tls.grpcCredentials())
                .intercept(new BearerAuthInterceptor(BearerTokens.of(TOKEN), Set.of(HealthGrpc.SERVICE_NAME), false)))
                .build().start();
        channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.port(),
                TlsChannelCredentials.newBuilder().trustManager(pki.ca().toFile()).build()).build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow();
        server.stop(5_000);
    }

    private static InferenceServiceGrpc.InferenceServiceBlockingStub fovea() {
        return InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip() {
        return GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    @Test
    void bothApisAnswerOverTlsWithTheToken() {
        assertFalse(fovea().withCallCredentials(new BearerCredentials(TOKEN))
                .listModels(ListModelsRequest.getDefaultInstance())
                .getModelsList().isEmpty());
        assertEquals("fovea", oip().withCallCredentials(new BearerCredentials(TOKEN))
                .serverMetadata(ServerMetadataRequest.getDefaultInstance()).getName());
    }

    @Test
    void bothApisRefuseACallWithoutAToken() {
        StatusRuntimeException v1 = assertThrows(StatusRuntimeException.class,
                () -> fovea().listModels(ListModelsRequest.getDefaultInstance()));
        StatusRuntimeException v2 = assertThrows(StatusRuntimeException.class,
                () -> oip().serverMetadata(ServerMetadataRequest.getDefaultInstance()));

        assertEquals(Status.Code.UNAUTHENTICATED, v1.getStatus().getCode());
        assertEquals(Status.Code.UNAUTHENTICATED, v2.getStatus().getCode());
        assertTrue(v1.getStatus().getDescription().contains("authorization: Bearer"), v1.getMessage());
    }

    @Test
    void bothApisRefuseAWrongTokenWithoutEchoingIt() {
        String wrong = "guess-" + TOKEN;
        StatusRuntimeException v1 = assertThrows(StatusRuntimeException.class,
                () -> fovea().withCallCredentials(new BearerCredentials(wrong))
                        .listModels(ListModelsRequest.getDefaultInstance()));
        StatusRuntimeException v2 = assertThrows(StatusRuntimeException.class, () -> oip()
                .withCallCredentials(new BearerCredentials(wrong))
                .serverMetadata(ServerMetadataRequest.getDefaultInstance()));

        for (StatusRuntimeException e : new StatusRuntimeException[] {v1, v2}) {
            assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
            assertFalse(e.getMessage().contains(wrong), e.getMessage());
            assertFalse(e.getMessage().contains(TOKEN), e.getMessage());
        }
    }

    @Test
    void healthAnswersWithoutATokenSoProbesWork() {
        HealthCheckResponse response = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());

        assertEquals(HealthCheckResponse.ServingStatus.SERVING, response.getStatus());
    }

    @Test
    void reflectionNeedsTheToken() throws Exception {
        assertEquals(Status.Code.UNAUTHENTICATED, listServices(ServerReflectionGrpc.newStub(channel)));
        assertEquals(Status.Code.OK, listServices(ServerReflectionGrpc.newStub(channel)
                .withCallCredentials(new BearerCredentials(TOKEN))));
    }

    private static Status.Code listServices(ServerReflectionGrpc.ServerReflectionStub stub) throws Exception {
        CompletableFuture<Status.Code> done = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                        done.complete(Status.Code.OK);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.complete(Status.fromThrowable(t).getCode());
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(Status.Code.OK);
                    }
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
        try {
            return done.get();
        } finally {
            requests.onCompleted();
        }
    }
}
