package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code fovea serve} says at start about TLS files it cannot use, instead of failing every handshake. */
class ServerTlsTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;

    @BeforeAll
    static void createCertificates() throws Exception {
        pki = TestCertificates.create(dir);
    }

    @Test
    void aKeyThatIsNotTheCertificatesIsRefusedNamingBothFiles() {
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class,
                () -> ServerTls.builder(pki.serverCert(), pki.clientKey()).build());

        assertTrue(e.getMessage().contains("client.key") && e.getMessage().contains("server.pem"), e.getMessage());
    }

    @Test
    void aTraditionalFormatKeyIsRefusedWithTheCommandThatConvertsIt() throws Exception {
        Path sec1 = dir.resolve("server-sec1.key");
        Process convert = new ProcessBuilder("openssl", "ec", "-in", pki.serverKey().toString(), "-out",
                sec1.toString()).redirectErrorStream(true).start();
        convert.getInputStream().readAllBytes();
        assertEquals(0, convert.waitFor());

        GeneralSecurityException e = assertThrows(GeneralSecurityException.class,
                () -> ServerTls.builder(pki.serverCert(), sec1).build());

        assertTrue(e.getMessage().contains("openssl pkcs8 -topk8"), e.getMessage());
    }

    @Test
    void aFileWithoutCertificatesIsRefused() throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.pem"), "");

        assertThrows(GeneralSecurityException.class, () -> ServerTls.builder(empty, pki.serverKey()).build());
    }

    @Test
    void clientAuthenticationWithoutAClientCaIsRefused() {
        assertThrows(IllegalStateException.class, () -> ServerTls.builder(pki.serverCert(), pki.serverKey())
                .clientAuth(ServerTls.ClientAuth.REQUIRED).build());
    }

    @Test
    void aClientCaMakesClientCertificatesRequiredUnlessToldOtherwise() throws Exception {
        assertEquals(ServerTls.ClientAuth.REQUIRED,
                ServerTls.builder(pki.serverCert(), pki.serverKey()).clientCa(pki.ca()).build().clientAuth());
        assertEquals(ServerTls.ClientAuth.OPTIONAL, ServerTls.builder(pki.serverCert(), pki.serverKey())
                .clientCa(pki.ca()).clientAuth(ServerTls.ClientAuth.OPTIONAL).build().clientAuth());
        assertEquals(ServerTls.ClientAuth.NONE,
                ServerTls.builder(pki.serverCert(), pki.serverKey()).build().clientAuth());
    }
}
