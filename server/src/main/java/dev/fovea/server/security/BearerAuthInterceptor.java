package dev.fovea.server.security;

import dev.fovea.server.limits.ThrottledLog;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Lets a gRPC call through only with {@code authorization: Bearer <token>} metadata holding one of the server's
 * tokens; otherwise the call ends with UNAUTHENTICATED before any handler runs (so before a request is parsed or
 * queued). Services named open (grpc.health.v1 by default, so Kubernetes probes need no secret) pass without one.
 *
 * <p>With optional client certificates, a client whose certificate the TLS handshake verified against the client CA
 * is authenticated by it and needs no token; a client without one must send a token. (A client with a certificate
 * from another CA normally sends none, since the server names the CAs it accepts, and so is treated as one without;
 * one that sends it fails the handshake.)
 *
 * <p>Install it on a listener with {@code ServerBuilder.intercept}: it then covers every service of that listener,
 * both APIs and server reflection included. Rejections are logged at most once per ten seconds, with the peer's
 * address and the reason, never the token.
 */
public final class BearerAuthInterceptor implements ServerInterceptor {

    private static final Logger logger = Logger.getLogger(BearerAuthInterceptor.class.getName());
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final BearerTokens tokens;
    private final Set<String> openServices;
    private final boolean certificateSuffices;
    private final ThrottledLog rejections = new ThrottledLog(logger, Duration.ofSeconds(10));

    /**
     * @param openServices full service names (e.g. {@code grpc.health.v1.Health}) callable without a token
     * @param certificateSuffices whether a client certificate verified in the handshake stands in for the token
     *     (optional client authentication); with required client authentication every client has one, and false
     *     asks for both
     */
    public BearerAuthInterceptor(BearerTokens tokens, Set<String> openServices, boolean certificateSuffices) {
        this.tokens = Objects.requireNonNull(tokens, "tokens");
        this.openServices = Set.copyOf(openServices);
        this.certificateSuffices = certificateSuffices;
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
            ServerCallHandler<ReqT, RespT> next) {
        String service = call.getMethodDescriptor().getServiceName();
        if (openServices.contains(service) || (certificateSuffices && hasVerifiedCertificate(call))) {
            return next.startCall(call, headers);
        }
        BearerTokens.Verdict verdict = tokens.check(headers.get(AUTHORIZATION));
        if (verdict == BearerTokens.Verdict.ACCEPTED) {
            return next.startCall(call, headers);
        }
        rejections.log(Level.WARNING, () -> "refused " + call.getMethodDescriptor().getFullMethodName() + " from "
                + call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR) + ": " + verdict.message());
        // Never call.request() here: gRPC parses a message only once it is requested, and Fovea's marshallers parse
        // into native memory that only the services' handlers free. Unrequested, a refused call's bytes stay in
        // Netty's buffers and go back with the stream (RejectedCallMemoryTest).
        call.close(Status.UNAUTHENTICATED.withDescription(verdict.message()), new Metadata());
        return new ServerCall.Listener<>() {};
    }

    /** The TLS session only holds peer certificates that chained to the client CA: others fail the handshake. */
    private static boolean hasVerifiedCertificate(ServerCall<?, ?> call) {
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session == null) {
            return false;
        }
        try {
            return session.getPeerCertificates().length > 0;
        } catch (SSLPeerUnverifiedException noCertificate) {
            return false;
        }
    }
}
