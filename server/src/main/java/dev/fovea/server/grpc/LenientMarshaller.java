package dev.fovea.server.grpc;

import dev.fovea.server.serving.Statuses;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.Status;
import java.io.InputStream;
import java.util.Objects;

/**
 * A request marshaller that never throws. grpc-java answers an exception from a request marshaller with UNKNOWN
 * "Application error processing RPC" and logs its stack trace at SEVERE, once per call: a client sending garbage
 * would get a useless status and could fill the server's log as fast as it sends. This one hands a failed parse to
 * the call as a {@link Received} carrying the status to answer, which {@link ParseCheckedCalls} sends and logs
 * (bounded, rate-limited).
 *
 * <p>Thread-safe if {@code strict} is.
 */
final class LenientMarshaller<T> implements Marshaller<LenientMarshaller.Received<T>> {

    /** One inbound message: parsed, or the status that says why it could not be. Exactly one is non-null. */
    record Received<T>(T message, Status failure) {}

    private final Marshaller<T> strict;
    private final String messageType;

    /** {@code strict} parses; {@code messageType} (the proto's full name) is what a failure says was expected. */
    LenientMarshaller(Marshaller<T> strict, String messageType) {
        this.strict = Objects.requireNonNull(strict, "strict");
        this.messageType = Objects.requireNonNull(messageType, "messageType");
    }

    /** The server never sends requests; reflection and binary logging may still ask for a message's bytes. */
    @Override
    public InputStream stream(Received<T> value) {
        return strict.stream(value.message());
    }

    @Override
    public Received<T> parse(InputStream stream) {
        try {
            return new Received<>(strict.parse(stream), null);
        } catch (RuntimeException e) {
            // gRPC closes the stream (and so releases the transport's buffers) whatever parse returns.
            return new Received<>(null, Statuses.unparseable(messageType, e));
        }
    }
}
