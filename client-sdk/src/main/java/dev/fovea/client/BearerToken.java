package dev.fovea.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executor;

/**
 * Call credentials that send {@code authorization: Bearer <token>} with every call, as a Fovea server started with
 * {@code --auth-token-file} requires on TCP. Attach it with {@link FoveaClient.Builder#bearerToken} or to any stub
 * with {@code withCallCredentials}.
 *
 * <p>The token goes with every call whatever the channel's security: use TLS on any network you do not trust, or
 * anyone on the path reads it. {@link #toString()} never shows it. Immutable and thread-safe.
 */
public final class BearerToken extends CallCredentials {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final String token;

    private BearerToken(String token) {
        if (token.isEmpty() || !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new IllegalArgumentException("a bearer token is non-empty printable ASCII without spaces");
        }
        this.token = token;
    }

    /**
     * @throws IllegalArgumentException when the token is empty or holds spaces or non-ASCII characters
     */
    public static BearerToken of(String token) {
        return new BearerToken(token.strip());
    }

    /**
     * The first token of a file in the server's format: one per line, blank lines and {@code #} comments skipped.
     *
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when it holds no valid token (the message never quotes the file)
     */
    public static BearerToken fromFile(Path file) throws IOException {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String token = line.strip();
            if (!token.isEmpty() && !token.startsWith("#")) {
                return new BearerToken(token);
            }
        }
        throw new IllegalArgumentException(file + " holds no token");
    }

    @Override
    public void applyRequestMetadata(RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + token);
        applier.apply(headers);
    }

    @Override
    public String toString() {
        return "BearerToken[hidden]";
    }
}
