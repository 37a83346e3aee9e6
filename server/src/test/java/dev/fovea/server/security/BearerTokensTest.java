package dev.fovea.server.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.security.BearerTokens.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BearerTokensTest {

    @TempDir
    Path dir;

    @Test
    void everyTokenOfTheFileIsAcceptedAndBlankLinesAndCommentsAreSkipped() throws Exception {
        Path file = Files.writeString(dir.resolve("tokens"), "# rotated 2026-11\n\n  first-token  \nsecond-token\r\n");
        BearerTokens tokens = BearerTokens.load(file);

        assertEquals(Verdict.ACCEPTED, tokens.check("Bearer first-token"));
        assertEquals(Verdict.ACCEPTED, tokens.check("Bearer second-token"));
        assertEquals(Verdict.ACCEPTED, tokens.check("bearer second-token"), "the scheme is case-insensitive");
        assertEquals(Verdict.REJECTED, tokens.check("Bearer # rotated 2026-11"));
    }

    @Test
    void aWrongPrefixOrExtendedTokenIsRejected() {
        BearerTokens tokens = BearerTokens.of("s3cret-token");

        assertEquals(Verdict.REJECTED, tokens.check("Bearer s3cret"));
        assertEquals(Verdict.REJECTED, tokens.check("Bearer s3cret-token-and-more"));
        assertEquals(Verdict.REJECTED, tokens.check("Bearer "));
    }

    @Test
    void aMissingHeaderOrAnotherSchemeIsToldApart() {
        BearerTokens tokens = BearerTokens.of("s3cret-token");

        assertEquals(Verdict.MISSING, tokens.check(null));
        assertEquals(Verdict.NOT_BEARER, tokens.check("Basic czNjcmV0LXRva2Vu"));
        assertEquals(Verdict.NOT_BEARER, tokens.check("s3cret-token"));
    }

    @Test
    void aFileWithoutTokensIsRefused() throws Exception {
        Path file = Files.writeString(dir.resolve("tokens"), "# nothing yet\n\n");

        assertThrows(IllegalArgumentException.class, () -> BearerTokens.load(file));
    }

    @Test
    void aBadLineIsReportedByNumberWithoutItsContent() throws Exception {
        Path file = Files.writeString(dir.resolve("tokens"), "good-token\nhalf of a secret\n");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BearerTokens.load(file));

        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        assertFalse(e.getMessage().contains("secret"), e.getMessage());
    }

    @Test
    void verdictMessagesAndToStringNeverHoldTheToken() {
        BearerTokens tokens = BearerTokens.of("s3cret-token");

        assertFalse(tokens.toString().contains("s3cret"));
        for (Verdict verdict : Verdict.values()) {
            assertFalse(String.valueOf(verdict.message()).contains("s3cret"));
        }
    }
}
