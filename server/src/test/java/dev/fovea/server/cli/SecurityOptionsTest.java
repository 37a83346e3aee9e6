package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.security.TestCertificates;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code fovea serve}'s security options: bad combinations stop it at start, exposure is warned about. */
class SecurityOptionsTest {

    @TempDir
    static Path dir;

    private static TestCertificates pki;

    @BeforeAll
    static void createCertificates() throws Exception {
        pki = TestCertificates.create(dir);
    }

    @Command(name = "options")
    static final class Holder {
        @Mixin
        SecurityOptions security;
    }

    private record Outcome(String error, String warning) {}

    /** Parses and loads the options, then asks for the exposure warning as {@code serve} does for {@code host}. */
    private static Outcome load(String host, String... args) throws Exception {
        Holder holder = new Holder();
        CommandLine commandLine = new CommandLine(holder);
        commandLine.parseArgs(args);
        try {
            holder.security.load(commandLine);
        } catch (CommandLine.ParameterException e) {
            return new Outcome(e.getMessage(), "");
        }
        StringWriter err = new StringWriter();
        holder.security.warnIfExposed(host, new PrintWriter(err));
        return new Outcome(null, err.toString());
    }

    private static String[] tls(String... more) {
        List<String> args = new ArrayList<>(List.of("--tls-cert", pki.serverCert().toString(), "--tls-key",
                pki.serverKey().toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void aCertificateWithoutItsKeyIsAUsageError() throws Exception {
        assertEquals("--tls-cert and --tls-key go together",
                load("127.0.0.1", "--tls-cert", pki.serverCert().toString()).error());
    }

    @Test
    void optionalClientCertificatesWithoutATokenFileAreAUsageError() throws Exception {
        String error = load("127.0.0.1", tls("--tls-client-ca", pki.ca().toString(), "--tls-client-auth",
                "optional")).error();

        assertTrue(error.contains("--auth-token-file"), error);
    }

    @Test
    void aTokenFileWithoutTokensIsAUsageErrorNamingTheFile() throws Exception {
        Path tokens = Files.writeString(dir.resolve("empty-tokens"), "\n");

        String error = load("127.0.0.1", "--auth-token-file", tokens.toString()).error();

        assertTrue(error.contains("empty-tokens"), error);
    }

    @Test
    void aMistypedPolicyIsAUsageError() throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "t0ken\n");

        String error = load("127.0.0.1", "--auth-token-file", tokens.toString(), "--health-auth", "open").error();

        assertTrue(error.contains("--health-auth is token or none"), error);
    }

    @Test
    void allInterfacesWithoutTlsOrAuthenticationAreWarnedAbout() throws Exception {
        Outcome outcome = load("0.0.0.0");

        assertTrue(outcome.warning().contains("WARNING: listening on 0.0.0.0 without TLS or client authentication"),
                outcome.warning());
    }

    @Test
    void tlsWithoutClientAuthenticationIsWarnedAbout() throws Exception {
        Outcome outcome = load("0.0.0.0", tls());

        assertTrue(outcome.warning().contains("without client authentication"), outcome.warning());
    }

    @Test
    void tlsWithATokenOrRequiredCertificatesOrLoopbackIsQuiet() throws Exception {
        Path tokens = Files.writeString(dir.resolve("quiet-tokens"), "t0ken\n");

        assertEquals("", load("0.0.0.0", tls("--auth-token-file", tokens.toString())).warning());
        assertEquals("", load("0.0.0.0", tls("--tls-client-ca", pki.ca().toString())).warning());
        assertFalse(load("127.0.0.1").warning().contains("WARNING"));
    }
}
