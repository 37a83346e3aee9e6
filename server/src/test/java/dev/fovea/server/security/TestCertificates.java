package dev.fovea.server.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A throw-away PKI made with the openssl CLI in a test's temporary folder, so nothing that expires is committed: a
 * CA, a server certificate for localhost and 127.0.0.1, a client certificate, and a client certificate from another
 * CA that the server must not trust. EC P-256 keys (quick to make on a busy machine), keys as PKCS#8 PEM.
 */
public record TestCertificates(Path ca, Path serverCert, Path serverKey, Path clientCert, Path clientKey,
        Path strangerCert, Path strangerKey) {

    public static TestCertificates create(Path dir) throws IOException, InterruptedException {
        Path ca = authority(dir, "ca");
        Path stranger = authority(dir, "stranger-ca");
        leaf(dir, "server", ca, "localhost",
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        leaf(dir, "client", ca, "fovea-test-client", "extendedKeyUsage=clientAuth\n");
        leaf(dir, "stranger", stranger, "fovea-test-stranger", "extendedKeyUsage=clientAuth\n");
        return new TestCertificates(ca, dir.resolve("server.pem"), dir.resolve("server.key"),
                dir.resolve("client.pem"), dir.resolve("client.key"), dir.resolve("stranger.pem"),
                dir.resolve("stranger.key"));
    }

    private static Path authority(Path dir, String name) throws IOException, InterruptedException {
        openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=fovea-test-" + name);
        return dir.resolve(name + ".pem");
    }

    private static void leaf(Path dir, String name, Path ca, String commonName, String extensions)
            throws IOException, InterruptedException {
        Files.writeString(dir.resolve(name + ".ext"), extensions);
        String caName = ca.getFileName().toString().replace(".pem", "");
        openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + commonName);
        openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", caName + ".pem", "-CAkey", caName + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext");
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (process.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
    }
}
