package dev.fovea.server.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * The bearer tokens a client may present, kept only as SHA-256 digests. A presented token is hashed and compared
 * with every digest by {@link MessageDigest#isEqual} without stopping at a match: the comparison takes the same time
 * whatever the token's length, its longest common prefix with a valid one or which token it matches, so timing
 * tells an attacker nothing.
 *
 * <p>Nothing here logs, prints or keeps a token's text; error messages name a line number, never its content.
 * Immutable and thread-safe.
 */
public final class BearerTokens {

    /** Why a credential was refused, in words safe to send to the client. */
    public enum Verdict {
        ACCEPTED(null),
        MISSING("missing credentials: send the metadata 'authorization: Bearer <token>'"),
        NOT_BEARER("the authorization metadata is not a Bearer token"),
        REJECTED("the bearer token is not accepted");

        private final String message;

        Verdict(String message) {
            this.message = message;
        }

        /** One line for the client (UNAUTHENTICATED's description); null for ACCEPTED. */
        public String message() {
            return message;
        }
    }

    private static final String SCHEME = "bearer ";

    private final List<byte[]> digests;

    private BearerTokens(List<byte[]> digests) {
        this.digests = List.copyOf(digests);
    }

    /**
     * Reads one token per line; blank lines and lines starting with {@code #} are skipped, and spaces around a token
     * are trimmed. Several tokens let clients move to a new one before the old one is removed.
     *
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when it holds no token, or a line that is not a valid token (the message
     *     gives the line number only)
     */
    public static BearerTokens load(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        List<byte[]> digests = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String token = lines.get(i).strip();
            if (token.isEmpty() || token.startsWith("#")) {
                continue;
            }
            if (!token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                throw new IllegalArgumentException(file + " line " + (i + 1)
                        + ": a token is printable ASCII without spaces (RFC 6750)");
            }
            digests.add(sha256(token));
        }
        if (digests.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no token");
        }
        return new BearerTokens(digests);
    }

    /** Tokens given in code (tests, embedding applications). */
    public static BearerTokens of(String... tokens) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("at least one token is needed");
        }
        List<byte[]> digests = new ArrayList<>();
        for (String token : tokens) {
            if (token.isBlank()) {
                throw new IllegalArgumentException("a token must not be blank");
            }
            digests.add(sha256(token));
        }
        return new BearerTokens(digests);
    }

    /**
     * Judges the value of an {@code authorization} header or metadata entry ({@code Bearer <token>}, the scheme
     * case-insensitive as RFC 7235 says); null means there was none.
     */
    public Verdict check(String authorization) {
        if (authorization == null) {
            return Verdict.MISSING;
        }
        if (!authorization.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
            return Verdict.NOT_BEARER;
        }
        byte[] presented = sha256(authorization.substring(SCHEME.length()).strip());
        boolean accepted = false;
        for (byte[] digest : digests) {
            accepted |= MessageDigest.isEqual(digest, presented);
        }
        return accepted ? Verdict.ACCEPTED : Verdict.REJECTED;
    }

    private static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return "BearerTokens[" + digests.size() + " tokens]";
    }
}
