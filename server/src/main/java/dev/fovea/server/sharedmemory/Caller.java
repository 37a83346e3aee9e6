package dev.fovea.server.sharedmemory;

import java.util.Objects;

/**
 * Who makes a shared-memory call: the transport the call came in on and, where the kernel vouches for it, the uid of
 * the process at the other end (SO_PEERCRED on the Unix socket; the server's own uid in process).
 *
 * @param uid the peer's uid, or {@link #UNKNOWN_UID} over the network (or when the socket could not tell)
 */
public record Caller(Transport transport, int uid) {

    public static final int UNKNOWN_UID = -1;

    /** Where a call came from, as far as the server can tell. */
    public enum Transport {
        /** The Unix domain socket: same host, and the kernel reports the peer's uid. */
        UNIX_SOCKET,
        /** The in-process transport: code inside the server's own JVM. */
        IN_PROCESS,
        /** TCP (or anything else): the peer could be anyone who reaches the port. */
        NETWORK
    }

    public Caller {
        Objects.requireNonNull(transport, "transport");
    }

    public static Caller unixSocket(int uid) {
        return new Caller(Transport.UNIX_SOCKET, uid);
    }

    public static Caller inProcess() {
        return new Caller(Transport.IN_PROCESS, SharedMemoryAccess.serverUid());
    }

    public static Caller network() {
        return new Caller(Transport.NETWORK, UNKNOWN_UID);
    }

    public boolean uidKnown() {
        return uid != UNKNOWN_UID;
    }

    /** For messages: {@code Unix socket peer uid 1000}, {@code TCP peer}. */
    public String describe() {
        return switch (transport) {
            case UNIX_SOCKET -> uidKnown() ? "Unix socket peer uid " + uid : "Unix socket peer of unknown uid";
            case IN_PROCESS -> "in-process caller";
            case NETWORK -> "TCP peer";
        };
    }
}
