package dev.fovea.server.transport;

import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A Unix domain socket for the gRPC server (Netty's epoll transport), for a sidecar: an application in the same pod or
 * host reaches Fovea through a file, with no TCP stack in between and access controlled by the file's mode.
 *
 * <p>Ownership: owns the socket file and the event loops serving it. {@link #open} clears a stale socket file left by
 * a server that died; {@link #restrictAccess} sets the file's mode once the server has bound it; {@link #close}, after
 * the server has stopped, deletes the file and stops the event loops.
 */
public final class UnixSocket implements AutoCloseable {

    /** {@code 0660}: the server's user and group may connect, nobody else. */
    public static final String DEFAULT_MODE = "0660";

    private final Path path;
    private final Set<PosixFilePermission> mode;
    private final EventLoopGroup eventLoops;

    private UnixSocket(Path path, Set<PosixFilePermission> mode) {
        this.path = path;
        this.mode = mode;
        this.eventLoops = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    /**
     * Prepares a socket at {@code path} with file mode {@code octalMode} (e.g. {@code 0660}). A socket file nobody
     * listens on is removed; one a live server listens on, or any other kind of file, is an error, never replaced.
     *
     * @throws IllegalArgumentException for a bad mode or path, or when epoll is unavailable (not Linux)
     * @throws IOException when the path is taken
     */
    public static UnixSocket open(Path path, String octalMode) throws IOException {
        Objects.requireNonNull(path, "path");
        Set<PosixFilePermission> mode = parseMode(octalMode);
        if (!Epoll.isAvailable()) {
            throw new IllegalArgumentException("Unix domain sockets need Netty's epoll transport (Linux x86_64): "
                    + Epoll.unavailabilityCause());
        }
        Path parent = path.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("socket path " + path + ": folder " + parent + " does not exist");
        }
        removeStale(path);
        return new UnixSocket(path, mode);
    }

    /**
     * A server builder listening on this socket; the caller adds services and builds it. Its calls carry the peer's
     * uid in their transport attributes ({@link PeerUid#KEY}).
     */
    public NettyServerBuilder serverBuilder() {
        return NettyServerBuilder
                .forAddress(new DomainSocketAddress(path.toString()), PeerUid.plaintextCredentials())
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(eventLoops)
                .workerEventLoopGroup(eventLoops);
    }

    public Path path() {
        return path;
    }

    /** Sets the socket file's mode; call once the server has started (binding creates the file). */
    public void restrictAccess() throws IOException {
        Files.setPosixFilePermissions(path, mode);
    }

    /** Deletes the socket file and stops the event loops; call after the server has stopped. */
    @Override
    public void close() {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            // The server is down either way; the next start removes a stale file.
        }
        eventLoops.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Parses an octal file mode such as {@code 0660} or {@code 660}; only permission bits are allowed. */
    static Set<PosixFilePermission> parseMode(String octalMode) {
        int bits;
        try {
            bits = Integer.parseInt(octalMode, 8);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("socket mode '" + octalMode + "' is not an octal mode such as 0660");
        }
        if (bits < 0 || bits > 0777) {
            throw new IllegalArgumentException("socket mode '" + octalMode + "' has bits beyond 0777");
        }
        PosixFilePermission[] order = {
            PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE,
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE};
        Set<PosixFilePermission> mode = EnumSet.noneOf(PosixFilePermission.class);
        for (int i = 0; i < order.length; i++) {
            if ((bits & (0400 >> i)) != 0) {
                mode.add(order[i]);
            }
        }
        return mode;
    }

    private static void removeStale(Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        }
        int fileType = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000;
        if (!attributes.isOther() || fileType != 0140000) { // S_IFMT, S_IFSOCK: never a FIFO or a device
            throw new IOException("socket path " + path + " exists and is not a socket; not replacing it");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            throw new IOException("another server listens on " + path);
        } catch (ConnectException e) {
            // Nobody accepts connections: a socket left by a server that died.
            Files.delete(path);
        }
    }
}
