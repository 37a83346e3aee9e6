package dev.fovea.server.security;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * The server's TLS identity (certificate chain and key) and, for mutual TLS, the CAs its clients' certificates must
 * chain to. Read once, when built, so a bad file stops {@code fovea serve} at start instead of failing handshakes;
 * the same key and trust managers then serve the gRPC listener and the HTTPS metrics endpoint, so both present the
 * same certificate and accept the same clients. The JDK's TLS provider does the work (no native TLS library).
 */
public final class ServerTls {

    /** Whether clients must present a certificate; only meaningful with {@link Builder#clientCa}. */
    public enum ClientAuth {
        /** No client certificate is asked for. */
        NONE,
        /** Asked for and verified if sent; a client without one still connects (and may use a token). */
        OPTIONAL,
        /** A client without a certificate that chains to the client CA fails the handshake. */
        REQUIRED
    }

    /** Only to protect the in-memory key store the key manager reads; never written anywhere. */
    private static final char[] KEY_STORE_PASSWORD = "in-memory".toCharArray();

    private final KeyManager[] keyManagers;
    private final TrustManager[] trustManagers;
    private final ClientAuth clientAuth;

    private ServerTls(KeyManager[] keyManagers, TrustManager[] trustManagers, ClientAuth clientAuth) {
        this.keyManagers = keyManagers;
        this.trustManagers = trustManagers;
        this.clientAuth = clientAuth;
    }

    /** TLS with the certificate chain (leaf first) and its PKCS#8 private key, both PEM. */
    public static Builder builder(Path certificateChain, Path privateKey) {
        return new Builder(certificateChain, privateKey);
    }

    public ClientAuth clientAuth() {
        return clientAuth;
    }

    /** Credentials for a gRPC (Netty) listener. */
    public ServerCredentials grpcCredentials() {
        TlsServerCredentials.Builder credentials = TlsServerCredentials.newBuilder().keyManager(keyManagers);
        if (trustManagers != null) {
            credentials.trustManager(trustManagers).clientAuth(switch (clientAuth) {
                case NONE -> TlsServerCredentials.ClientAuth.NONE;
                case OPTIONAL -> TlsServerCredentials.ClientAuth.OPTIONAL;
                case REQUIRED -> TlsServerCredentials.ClientAuth.REQUIRE;
            });
        }
        return credentials.build();
    }

    /** The same identity and client policy for a Netty HTTP/1.1 listener (the HTTP/REST port), on the JDK's TLS. */
    public SslContext httpContext() throws SSLException {
        SslContextBuilder builder = SslContextBuilder.forServer(keyManagers[0]).sslProvider(SslProvider.JDK);
        if (trustManagers != null) {
            builder.trustManager(trustManagers[0]).clientAuth(switch (clientAuth) {
                case NONE -> io.netty.handler.ssl.ClientAuth.NONE;
                case OPTIONAL -> io.netty.handler.ssl.ClientAuth.OPTIONAL;
                case REQUIRED -> io.netty.handler.ssl.ClientAuth.REQUIRE;
            });
        }
        return builder.build();
    }

    /** The same identity and client policy for the JDK's HttpsServer (the Prometheus endpoint). */
    public HttpsConfigurator httpsConfigurator() throws GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keyManagers, trustManagers, null);
        return new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters parameters = getSSLContext().getDefaultSSLParameters();
                parameters.setNeedClientAuth(trustManagers != null && clientAuth == ClientAuth.REQUIRED);
                parameters.setWantClientAuth(trustManagers != null && clientAuth == ClientAuth.OPTIONAL);
                params.setSSLParameters(parameters);
            }
        };
    }

    /** Configures a {@link ServerTls}. */
    public static final class Builder {
        private final Path certificateChain;
        private final Path privateKey;
        private Path clientCa;
        private ClientAuth clientAuth;

        private Builder(Path certificateChain, Path privateKey) {
            this.certificateChain = Objects.requireNonNull(certificateChain, "certificateChain");
            this.privateKey = Objects.requireNonNull(privateKey, "privateKey");
        }

        /** Verifies client certificates against this PEM bundle of CAs (mutual TLS); REQUIRED unless told otherwise. */
        public Builder clientCa(Path caBundle) {
            this.clientCa = Objects.requireNonNull(caBundle, "caBundle");
            return this;
        }

        /** Whether a client certificate is required or optional; needs {@link #clientCa} unless NONE. */
        public Builder clientAuth(ClientAuth clientAuth) {
            this.clientAuth = Objects.requireNonNull(clientAuth, "clientAuth");
            return this;
        }

        /**
         * Reads the files.
         *
         * @throws IOException when a file cannot be read
         * @throws GeneralSecurityException when a file holds no usable certificate or key, or the key is not the
         *     certificate's
         * @throws IllegalStateException when a client certificate is required or optional but no CA is given
         */
        public ServerTls build() throws IOException, GeneralSecurityException {
            ClientAuth effective = clientAuth != null ? clientAuth : clientCa != null ? ClientAuth.REQUIRED
                    : ClientAuth.NONE;
            if (effective != ClientAuth.NONE && clientCa == null) {
                throw new IllegalStateException("client authentication " + effective
                        + " needs the CAs that sign client certificates");
            }
            List<X509Certificate> chain = PemFiles.certificates(certificateChain);
            PrivateKey key = PemFiles.privateKey(privateKey);
            checkKeyMatches(key, chain.getFirst());
            KeyStore identity = KeyStore.getInstance("PKCS12");
            identity.load(null, null);
            identity.setKeyEntry("server", key, KEY_STORE_PASSWORD, chain.toArray(X509Certificate[]::new));
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(identity, KEY_STORE_PASSWORD);
            return new ServerTls(keys.getKeyManagers(), clientCa == null ? null : trustManagers(clientCa), effective);
        }

        private static TrustManager[] trustManagers(Path caBundle) throws IOException, GeneralSecurityException {
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            List<X509Certificate> cas = PemFiles.certificates(caBundle);
            for (int i = 0; i < cas.size(); i++) {
                trusted.setCertificateEntry("client-ca-" + i, cas.get(i));
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trusted);
            return trust.getTrustManagers();
        }

        /** A key that is not the certificate's would fail every handshake with an opaque error: say so at start. */
        private void checkKeyMatches(PrivateKey key, X509Certificate leaf) throws GeneralSecurityException {
            String algorithm = switch (key.getAlgorithm()) {
                case "RSA" -> "SHA256withRSA";
                case "EC" -> "SHA256withECDSA";
                case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
                default -> null; // RSASSA-PSS needs parameters; the handshake will tell
            };
            if (algorithm == null) {
                return;
            }
            byte[] probe = "fovea key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            boolean matches;
            try {
                Signature verifier = Signature.getInstance(algorithm);
                verifier.initVerify(leaf.getPublicKey());
                verifier.update(probe);
                matches = verifier.verify(signature);
            } catch (GeneralSecurityException differentKeyType) {
                matches = false;
            }
            if (!matches) {
                throw new GeneralSecurityException(privateKey + " is not the private key of the first certificate in "
                        + certificateChain + " (" + leaf.getSubjectX500Principal() + ")");
            }
        }
    }
}
