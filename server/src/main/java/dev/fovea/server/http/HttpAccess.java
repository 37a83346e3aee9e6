package dev.fovea.server.http;

import dev.fovea.server.limits.ThrottledLog;
import dev.fovea.server.security.BearerTokens;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Who may use the HTTP port: the same TLS identity, client-certificate policy and bearer tokens as the gRPC TCP
 * listener (see {@code cli.SecurityOptions}), so a server started with TLS and a token has no plaintext, open door
 * beside its gRPC port.
 *
 * @param tls the TLS context, or null for plaintext HTTP
 * @param tokens the accepted bearer tokens, or null when no token is required
 * @param healthOpen whether {@code /v2/health/...} answers without the token (the gRPC health service's policy)
 * @param certificateSuffices whether a verified client certificate stands in for the token (optional mutual TLS)
 */
public record HttpAccess(SslContext tls, BearerTokens tokens, boolean healthOpen, boolean certificateSuffices) {

    /** Plaintext, no token: for loopback or a network that is trusted otherwise. */
    public static final HttpAccess OPEN = new HttpAccess(null, null, true, false);

    private static final ThrottledLog rejections = new ThrottledLog(Logger.getLogger(HttpAccess.class.getName()),
            Duration.ofSeconds(10));

    /** 401 with a one-line reason (never the token) if {@code request} may not pass, else null. */
    Reply refusal(FullHttpRequest request, ChannelHandlerContext ctx) {
        if (tokens == null || healthOpen && request.uri().startsWith("/v2/health/")
                || certificateSuffices && hasVerifiedCertificate(ctx)) {
            return null;
        }
        BearerTokens.Verdict verdict = tokens.check(request.headers().get(HttpHeaderNames.AUTHORIZATION));
        if (verdict == BearerTokens.Verdict.ACCEPTED) {
            return null;
        }
        rejections.log(Level.WARNING, () -> "refused HTTP " + request.method() + " from "
                + ctx.channel().remoteAddress() + ": " + verdict.message());
        Reply reply = Reply.error(HttpResponseStatus.UNAUTHORIZED, verdict.message().replace("metadata", "header"));
        reply.response().headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
        return reply;
    }

    private static boolean hasVerifiedCertificate(ChannelHandlerContext ctx) {
        SslHandler ssl = ctx.pipeline().get(SslHandler.class);
        if (ssl == null) {
            return false;
        }
        try {
            return ssl.engine().getSession().getPeerCertificates().length > 0;
        } catch (SSLPeerUnverifiedException noCertificate) {
            return false;
        }
    }
}
