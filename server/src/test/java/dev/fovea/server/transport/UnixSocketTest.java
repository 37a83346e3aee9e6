package dev.fovea.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PredictRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server on a Unix domain socket beside TCP, and how the socket file is guarded. */
@Timeout(60)
class UnixSocketTest {

    @TempDir
    Path folder;

    private static int classes(ManagedChannel channel) {
        return InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .predict(PredictRequest.newBuilder().setModel("cnn")
                        .addImages(TestImages.pixels(TestImages.picture(32, 32, 1))).build())
                .getResults(0).getClassesCount();
    }

    @Test
    void servesTheSameModelsOnTheSocketAndOnTcpThenDeletesTheSocket() throws Exception {
        Path path = folder.resolve("fovea.sock");
        UnixSocket socket = UnixSocket.open(path, "0660");
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(8, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics).callThreads(2)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)))
                .listener(socket.serverBuilder()).build().start();
        socket.restrictAccess();
        ManagedChannel unix = Grpc.newChannelBuilder("unix://" + path, InsecureChannelCredentials.create()).build();
        ManagedChannel tcp = Grpc.newChannelBuilder("127.0.0.1:" + server.port(), InsecureChannelCredentials.create())
                .build();
        try {
            assertEquals(5, classes(unix));
            assertEquals(5, classes(tcp));
            assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(path)));
        } finally {
            unix.shutdownNow();
            tcp.shutdownNow();
            server.stop(5_000);
            socket.close();
        }
        assertFalse(Files.exists(path), "the socket file is deleted at shutdown");
    }

    @Test
    void aStaleSocketFromADeadServerIsReplaced() throws Exception {
        Path path = folder.resolve("stale.sock");
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(path));
        }
        assertTrue(Files.exists(path), "closing a channel leaves its socket file behind");
        UnixSocket.open(path, "0660").close();
        assertFalse(Files.exists(path));
    }

    @Test
    void aSocketALiveServerListensOnIsNotTaken() throws Exception {
        Path path = folder.resolve("live.sock");
        try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            live.bind(UnixDomainSocketAddress.of(path));
            IOException e = assertThrows(IOException.class, () -> UnixSocket.open(path, "0660"));
            assertTrue(e.getMessage().contains("another server listens"), e.getMessage());
            assertTrue(Files.exists(path));
        }
    }

    @Test
    void aFileThatIsNotASocketIsNeverReplaced() throws Exception {
        Path path = Files.writeString(folder.resolve("notes.txt"), "keep me");
        IOException e = assertThrows(IOException.class, () -> UnixSocket.open(path, "0660"));
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
        assertEquals("keep me", Files.readString(path));
    }

    @Test
    void aFifoIsNeverTakenForAStaleSocket() throws Exception {
        Path fifo = folder.resolve("pipe");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        IOException e = assertThrows(IOException.class, () -> UnixSocket.open(fifo, "0660"));
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
        assertTrue(Files.exists(fifo));
    }

    @Test
    void modesAreOctalPermissionBitsOnly() {
        assertEquals("rw-rw----", PosixFilePermissions.toString(UnixSocket.parseMode("0660")));
        assertEquals("rw-------", PosixFilePermissions.toString(UnixSocket.parseMode("600")));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.parseMode("rw-rw----"));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.parseMode("1777"));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.open(folder.resolve("x.sock"), "0999"));
    }

    @Test
    void aMissingFolderIsReportedByName() {
        Path path = folder.resolve("missing/fovea.sock");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> UnixSocket.open(path, "0660"));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }
}
