package dev.fovea.server.sharedmemory;

import java.util.Objects;

/** A shared-memory request the server refuses; {@link #reason()} picks the status the protocol layer answers with. */
public final class SharedMemoryException extends RuntimeException {

    public enum Reason {
        /** The server was started without {@code --allow-shared-memory}. */
        DISABLED,
        /** A bad key, name, offset or size: the caller's mistake. */
        INVALID,
        /** No region is registered under the name. */
        NOT_FOUND,
        /** A region is already registered under the name. */
        ALREADY_EXISTS
    }

    private final Reason reason;

    public SharedMemoryException(Reason reason, String message) {
        super(message);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    public Reason reason() {
        return reason;
    }
}
