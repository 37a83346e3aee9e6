package dev.fovea.client.cli;

import dev.fovea.client.BearerToken;
import dev.fovea.client.FoveaClient;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * How a command line tool reaches a secured server: TLS (system or private CA), a client certificate for mutual TLS,
 * a bearer token, a server name. A picocli mixin shared by {@code fovea-client} and {@code fovea-bench}, so both take
 * the same flags. The token file is read when the client is built and its content is never printed.
 */
public final class ConnectionOptions {

    @Option(names = "--tls", description = "Use TLS, trusting the system's CAs (implied by the other --tls-* options).")
    private boolean tls;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "Use TLS, trusting only these CAs (a PEM bundle).")
    private Path tlsCa;

    @Option(names = "--tls-cert", paramLabel = "PEM",
            description = "Client certificate chain for mutual TLS; needs --tls-key.")
    private Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "The PKCS#8 private key of --tls-cert.")
    private Path tlsKey;

    @Option(names = "--tls-server-name", paramLabel = "NAME",
            description = "Check the server's certificate against this name instead of the target's host.")
    private String tlsServerName;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "Send 'authorization: Bearer <token>' with the first token of this file.")
    private Path tokenFile;

    /**
     * Applies the options to a client that opens its own channel.
     *
     * @throws IOException when a certificate, key or token file cannot be read
     * @throws IllegalArgumentException when only one of --tls-cert and --tls-key is given, or the token file holds
     *     no token
     */
    public FoveaClient.Builder configure(FoveaClient.Builder builder) throws IOException {
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go together");
        }
        if (tls) {
            builder.useTransportSecurity();
        }
        if (tlsCa != null) {
            builder.trustedCertificates(tlsCa);
        }
        if (tlsCert != null) {
            builder.clientCertificate(tlsCert, tlsKey);
        }
        if (tlsServerName != null) {
            builder.overrideAuthority(tlsServerName);
        }
        if (tokenFile != null) {
            builder.bearerToken(BearerToken.fromFile(tokenFile));
        }
        return builder;
    }
}
