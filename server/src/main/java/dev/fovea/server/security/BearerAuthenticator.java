package dev.fovea.server.security;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import com.sun.net.httpserver.HttpsExchange;
import java.util.Objects;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * The bearer-token check for the JDK's HTTP server (the Prometheus endpoint), as Prometheus sends it
 * ({@code authorization: {type: Bearer, credentials_file: ...}} in a scrape config): 401 with
 * {@code WWW-Authenticate: Bearer} when the header is missing or wrong. Like the gRPC listener, with optional
 * client certificates a scraper whose certificate the handshake verified needs no token.
 */
public final class BearerAuthenticator extends Authenticator {

    private final BearerTokens tokens;
    private final boolean certificateSuffices;

    /** See {@link BearerAuthInterceptor#BearerAuthInterceptor} for {@code certificateSuffices}. */
    public BearerAuthenticator(BearerTokens tokens, boolean certificateSuffices) {
        this.tokens = Objects.requireNonNull(tokens, "tokens");
        this.certificateSuffices = certificateSuffices;
    }

    @Override
    public Result authenticate(HttpExchange exchange) {
        if (certificateSuffices && hasVerifiedCertificate(exchange)) {
            return new Success(new HttpPrincipal("certificate", "fovea"));
        }
        if (tokens.check(exchange.getRequestHeaders().getFirst("Authorization")) == BearerTokens.Verdict.ACCEPTED) {
            return new Success(new HttpPrincipal("bearer", "fovea"));
        }
        exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"fovea\"");
        return new Failure(401);
    }

    private static boolean hasVerifiedCertificate(HttpExchange exchange) {
        if (!(exchange instanceof HttpsExchange https)) {
            return false;
        }
        try {
            return https.getSSLSession().getPeerCertificates().length > 0;
        } catch (SSLPeerUnverifiedException noCertificate) {
            return false;
        }
    }
}
