package dev.fovea.server.cli;

import dev.fovea.server.http.HttpAccess;
import dev.fovea.server.security.BearerAuthInterceptor;
import dev.fovea.server.security.BearerAuthenticator;
import dev.fovea.server.security.BearerTokens;
import dev.fovea.server.security.ServerTls;
import io.grpc.InsecureServerCredentials;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Locale;
import java.util.Set;
import javax.net.ssl.SSLException;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * {@code fovea serve}'s transport-security options, for the TCP listeners (gRPC and HTTP/REST) and the metrics
 * endpoint (the Unix socket is guarded by its file mode): TLS, client certificates and bearer tokens. {@link #load}
 * reads the files once, before the models load, so a bad certificate or token file stops the server at once.
 */
final class SecurityOptions {

    @Option(names = "--tls-cert", paramLabel = "PEM",
            description = "Serve TCP and metrics over TLS with this certificate chain (leaf first); needs --tls-key.")
    private Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "The unencrypted PKCS#8 private key of --tls-cert.")
    private Path tlsKey;

    @Option(names = "--tls-client-ca", paramLabel = "PEM",
            description = "Mutual TLS: verify client certificates against these CAs (a PEM bundle); needs --tls-cert.")
    private Path tlsClientCa;

    @Option(names = "--tls-client-auth", paramLabel = "required|optional",
            description = "With --tls-client-ca: whether every client must present a certificate (and also the token "
                    + "if --auth-token-file is given), or each presents a certificate or the token "
                    + "(default: required).")
    private String tlsClientAuth;

    @Option(names = "--auth-token-file", paramLabel = "FILE",
            description = "Require 'authorization: Bearer <token>' on TCP calls and metrics scrapes; the file holds "
                    + "one or more tokens, one per line, read at start and never logged.")
    private Path authTokenFile;

    @Option(names = "--health-auth", paramLabel = "none|token", defaultValue = "none",
            description = "Whether grpc.health.v1 needs the token too; 'none' lets probes in without a secret "
                    + "(default: ${DEFAULT-VALUE}). Server reflection always needs it.")
    private String healthAuth;

    @Option(names = "--metrics-auth", paramLabel = "token|none", defaultValue = "token",
            description = "Whether the metrics endpoint needs the --auth-token-file token (default: ${DEFAULT-VALUE}).")
    private String metricsAuth;

    private ServerTls tls;
    private BearerTokens tokens;
    private boolean healthNeedsToken;
    private boolean metricsNeedToken;

    /**
     * Checks the combination and reads the certificate, key and token files.
     *
     * @throws ParameterException naming the option or file at fault
     */
    void load(CommandLine commandLine) {
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new ParameterException(commandLine, "--tls-cert and --tls-key go together");
        }
        if (tlsCert == null && (tlsClientCa != null || tlsClientAuth != null)) {
            throw new ParameterException(commandLine, "client certificates need TLS: give --tls-cert and --tls-key");
        }
        if (tlsClientAuth != null && tlsClientCa == null) {
            throw new ParameterException(commandLine, "--tls-client-auth needs --tls-client-ca");
        }
        healthNeedsToken = choice(commandLine, "--health-auth", healthAuth, "token", "none");
        metricsNeedToken = choice(commandLine, "--metrics-auth", metricsAuth, "token", "none");
        if (authTokenFile == null && healthNeedsToken) {
            throw new ParameterException(commandLine, "--health-auth token needs --auth-token-file");
        }
        try {
            if (tlsCert != null) {
                ServerTls.Builder builder = ServerTls.builder(tlsCert, tlsKey);
                if (tlsClientCa != null) {
                    builder.clientCa(tlsClientCa);
                }
                if (tlsClientAuth != null) {
                    builder.clientAuth(choice(commandLine, "--tls-client-auth", tlsClientAuth, "required", "optional")
                            ? ServerTls.ClientAuth.REQUIRED : ServerTls.ClientAuth.OPTIONAL);
                }
                tls = builder.build();
                if (tls.clientAuth() == ServerTls.ClientAuth.OPTIONAL && authTokenFile == null) {
                    throw new ParameterException(commandLine, "--tls-client-auth optional lets clients without a "
                            + "certificate authenticate with a token: give --auth-token-file");
                }
            }
            tokens = authTokenFile == null ? null : BearerTokens.load(authTokenFile);
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            throw new ParameterException(commandLine, e.getMessage(), e);
        }
    }

    /** True for {@code yes}, false for {@code no}, else a usage error. */
    private static boolean choice(CommandLine commandLine, String option, String value, String yes, String no) {
        String given = value.toLowerCase(Locale.ROOT);
        if (!given.equals(yes) && !given.equals(no)) {
            throw new ParameterException(commandLine, option + " is " + yes + " or " + no + ", not '" + value + "'");
        }
        return given.equals(yes);
    }

    /** A Netty listener on {@code address} with TLS and the token check as configured. */
    NettyServerBuilder tcpListener(InetSocketAddress address) {
        NettyServerBuilder listener = NettyServerBuilder.forAddress(address,
                tls == null ? InsecureServerCredentials.create() : tls.grpcCredentials());
        if (tokens != null) {
            listener.intercept(new BearerAuthInterceptor(tokens,
                    healthNeedsToken ? Set.of() : Set.of(HealthGrpc.SERVICE_NAME),
                    certificateSuffices()));
        }
        return listener;
    }

    /** With optional client certificates, a verified one stands in for the token. */
    private boolean certificateSuffices() {
        return tls != null && tls.clientAuth() == ServerTls.ClientAuth.OPTIONAL;
    }

    /** The HTTP/REST port's TLS and token check: the TCP listener's, health open or not alike. */
    HttpAccess http() throws SSLException {
        return new HttpAccess(tls == null ? null : tls.httpContext(), tokens, !healthNeedsToken,
                certificateSuffices());
    }

    /** Adds HTTPS and the token check, as configured, to the metrics endpoint. */
    HTTPServer.Builder metrics(HTTPServer.Builder builder) throws GeneralSecurityException {
        if (tls != null) {
            builder.httpsConfigurator(tls.httpsConfigurator());
        }
        if (tokens != null && metricsNeedToken) {
            builder.authenticator(new BearerAuthenticator(tokens, certificateSuffices()));
        }
        return builder;
    }

    /** "https" with TLS, else "http": for the start-up lines that name the HTTP and metrics addresses. */
    String scheme() {
        return tls == null ? "http" : "https";
    }

    /**
     * Warns when TCP is reachable from other hosts in the clear or by anyone: a model server answers whoever
     * connects, and a frame or a result may be sensitive.
     */
    void warnIfExposed(String host, PrintWriter err) throws IOException {
        if (InetAddress.getByName(host).isLoopbackAddress()) {
            return;
        }
        boolean clientsAuthenticated = tokens != null
                || (tls != null && tls.clientAuth() == ServerTls.ClientAuth.REQUIRED);
        if (tls == null || !clientsAuthenticated) {
            err.printf("fovea: WARNING: listening on %s %s (see the README's Security section)%n", host,
                    tls != null ? "without client authentication: anyone who reaches it can call the models"
                            : clientsAuthenticated ? "without TLS: requests, results and tokens cross the network "
                                    + "in the clear"
                            : "without TLS or client authentication: anyone who reaches it can call the models");
            err.flush();
        }
    }
}
