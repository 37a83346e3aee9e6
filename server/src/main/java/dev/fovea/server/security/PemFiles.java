package dev.fovea.server.security;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the PEM files operators hand to {@code fovea serve}: certificate chains and bundles, and unencrypted PKCS#8
 * private keys (what {@code openssl req -newkey}, {@code openssl genpkey} and cert-manager write). Older formats are
 * refused with the command that converts them, rather than parsed by hand.
 */
final class PemFiles {

    private static final Pattern BLOCK =
            Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    private static final List<String> KEY_ALGORITHMS = List.of("RSA", "EC", "EdDSA", "RSASSA-PSS");

    private PemFiles() {}

    /** Every certificate of the file, in order (a leaf then its intermediates, or a bundle of CAs). */
    static List<X509Certificate> certificates(Path file) throws IOException, GeneralSecurityException {
        List<X509Certificate> certificates;
        try (InputStream in = Files.newInputStream(file)) {
            certificates = CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
                    .map(X509Certificate.class::cast).toList();
        } catch (CertificateException e) {
            throw new CertificateException(file + ": not a PEM certificate file (" + e.getMessage() + ")", e);
        }
        if (certificates.isEmpty()) {
            throw new CertificateException(file + ": holds no certificate");
        }
        return certificates;
    }

    /** The file's one private key, which must be unencrypted PKCS#8 ({@code BEGIN PRIVATE KEY}). */
    static PrivateKey privateKey(Path file) throws IOException, GeneralSecurityException {
        Matcher block = BLOCK.matcher(Files.readString(file, StandardCharsets.US_ASCII));
        while (block.find()) {
            String type = block.group(1);
            if (type.equals("PRIVATE KEY")) {
                return pkcs8(file, Base64.getMimeDecoder().decode(block.group(2)));
            }
            if (type.endsWith("PRIVATE KEY")) {
                throw new InvalidKeySpecException(file + ": a " + type + " block; Fovea reads unencrypted PKCS#8 keys: "
                        + "convert with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`");
            }
        }
        throw new InvalidKeySpecException(file + ": holds no '-----BEGIN PRIVATE KEY-----' block");
    }

    private static PrivateKey pkcs8(Path file, byte[] der) throws GeneralSecurityException {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : KEY_ALGORITHMS) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (InvalidKeySpecException notThisAlgorithm) {
                // PKCS#8 names its algorithm inside; trying the JDK's factories in turn reads that name for us
            }
        }
        throw new InvalidKeySpecException(file + ": not an RSA, EC or EdDSA PKCS#8 private key");
    }
}
