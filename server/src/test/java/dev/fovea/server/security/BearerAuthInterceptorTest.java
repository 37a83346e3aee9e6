package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.MetadataUtils;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The health policy ({@code --health-auth}): which services the interceptor lets through without a token. */
class BearerAuthInterceptorTest {

    private Server server;
    private ManagedChannel channel;

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private HealthGrpc.HealthBlockingStub serve(Set<String> openServices) throws Exception {
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus("", ServingStatus.SERVING);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(health.getHealthService())
                .intercept(new BearerAuthInterceptor(BearerTokens.of("health-token"), openServices, false))
                .build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        return HealthGrpc.newBlockingStub(channel);
    }

    private static Metadata authorization(String value) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), value);
        return headers;
    }

    @Test
    void anOpenServiceAnswersWithoutAToken() throws Exception {
        HealthGrpc.HealthBlockingStub health = serve(Set.of(HealthGrpc.SERVICE_NAME));

        assertEquals(ServingStatus.SERVING, health.check(HealthCheckRequest.getDefaultInstance()).getStatus());
    }

    @Test
    void aClosedServiceNeedsTheToken() throws Exception {
        HealthGrpc.HealthBlockingStub health = serve(Set.of());

        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class,
                () -> health.check(HealthCheckRequest.getDefaultInstance()));
        StatusRuntimeException basic = assertThrows(StatusRuntimeException.class,
                () -> health.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(authorization("Basic eDp5")))
                        .check(HealthCheckRequest.getDefaultInstance()));

        assertEquals(Status.Code.UNAUTHENTICATED, missing.getStatus().getCode());
        assertEquals(BearerTokens.Verdict.MISSING.message(), missing.getStatus().getDescription());
        assertEquals(BearerTokens.Verdict.NOT_BEARER.message(), basic.getStatus().getDescription());
        assertEquals(ServingStatus.SERVING, health.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(
                authorization("Bearer health-token"))).check(HealthCheckRequest.getDefaultInstance()).getStatus());
    }
}
