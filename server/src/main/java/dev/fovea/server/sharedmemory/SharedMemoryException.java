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
        ALREADY_EXISTS,
        /** The caller may not use shared memory, or not this file (see {@link SharedMemoryAccess}). */
        PERMISSION_DENIED,
        /**
         * The region's file no longer holds the bytes a reference needs (it was truncated after registration): the
         * request was valid when registered and can succeed once the file is restored or the region re-registered.
         */
        TRUNCATED
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
