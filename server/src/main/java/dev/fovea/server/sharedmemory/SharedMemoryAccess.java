package dev.fovea.server.sharedmemory;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Set;
import java.util.TreeSet;

/**
 * Who may use shared memory at all. A region makes the server map (and, for outputs, write) a file, so only callers
 * the kernel identifies are trusted by default: Unix socket peers whose uid is in {@code uids} (by default the
 * server's own) and in-process callers (as the server's uid). Network callers are anonymous: they are let in only
 * when {@code network} is set, which hands every host that reaches the port the server's access to /dev/shm.
 *
 * @param network whether TCP callers may use shared memory ({@code --allow-shared-memory-tcp})
 * @param uids the uids Unix socket peers must have ({@code --shared-memory-uids})
 */
public record SharedMemoryAccess(boolean network, Set<Integer> uids) {

    private static final int SERVER_UID = currentUid();

    public SharedMemoryAccess {
        uids = Set.copyOf(uids);
    }

    /** Unix socket peers with the server's uid and in-process callers; no network callers. */
    public static SharedMemoryAccess defaults() {
        return new SharedMemoryAccess(false, Set.of(SERVER_UID));
    }

    /** The uid this process runs as ({@code getuid()}). */
    public static int serverUid() {
        return SERVER_UID;
    }

    /**
     * Refuses a caller not let in, with a one-line reason.
     *
     * @throws SharedMemoryException PERMISSION_DENIED
     */
    void check(Caller caller) {
        switch (caller.transport()) {
            case NETWORK -> {
                if (!network) {
                    throw denied("shared memory is refused over TCP; use the Unix socket (--uds), or start the "
                            + "server with --allow-shared-memory-tcp to trust every host that reaches the port");
                }
            }
            case UNIX_SOCKET, IN_PROCESS -> {
                if (!uids.contains(caller.uid())) {
                    throw denied("shared memory is refused to " + caller.describe() + "; allowed uids: "
                            + new TreeSet<>(uids) + " (--shared-memory-uids)");
                }
            }
        }
    }

    static SharedMemoryException denied(String message) {
        return new SharedMemoryException(SharedMemoryException.Reason.PERMISSION_DENIED, message);
    }

    private static int currentUid() {
        Linker linker = Linker.nativeLinker();
        MethodHandle getuid = linker.downcallHandle(linker.defaultLookup().find("getuid").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT));
        try {
            return (int) getuid.invokeExact();
        } catch (Throwable e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
