package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryStatusRequest;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.sharedmemory.SharedMemoryAccess;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.transport.UnixSocket;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.SharedMemoryRef;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who may use shared memory, over real Netty listeners: the Unix socket tells the server the peer's uid (SO_PEERCRED),
 * TCP tells it nothing. The tests run as one user, so other uids are tested through the allowed-uid list.
 */
@Timeout(120)
class SharedMemoryTransportsTest {

    private static final int SIDE = 32;
    private static final int FRAME_BYTES = SIDE * SIDE * 3;

    @TempDir
    Path folder;

    /** A server on TCP and a Unix socket, with a channel to each. */
    private record Listening(FoveaServer server, UnixSocket socket, ManagedChannel unix, ManagedChannel tcp)
            implements AutoCloseable {
        @Override
        public void close() throws InterruptedException {
            unix.shutdownNow();
            tcp.shutdownNow();
            server.stop(5_000);
            socket.close();
        }
    }

    private Listening start(SharedMemoryAccess access) throws Exception {
        Path shm = Files.createDirectories(folder.resolve("shm"));
        Files.write(shm.resolve("frames"), TestImages.pixels(TestImages.picture(SIDE, SIDE, 3)).getPixels()
                .getData().toByteArray());
        Files.write(shm.resolve("out"), new byte[64]);
        Path path = folder.resolve("fovea.sock");
        UnixSocket socket = UnixSocket.open(path, "0600");
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(8, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics).callThreads(2)
                .sharedMemory(SharedMemoryRegistry.enabled(shm, access))
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)))
                .listener(socket.serverBuilder()).build().start();
        socket.restrictAccess();
        return new Listening(server, socket,
                Grpc.newChannelBuilder("unix://" + path, InsecureChannelCredentials.create()).build(),
                Grpc.newChannelBuilder("127.0.0.1:" + server.port(), InsecureChannelCredentials.create()).build());
    }

    private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip(ManagedChannel channel) {
        return GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static void register(ManagedChannel channel, String name, String key, long byteSize) {
        oip(channel).systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName(name)
                .setKey(key).setByteSize(byteSize).build());
    }

    private static int classesOfFrameIn(ManagedChannel channel, String region) {
        Image image = Image.newBuilder().setPixels(RawPixels.newBuilder().setWidth(SIDE).setHeight(SIDE)
                .setFormat(PixelFormat.PIXEL_FORMAT_RGB).setSharedMemory(SharedMemoryRef.newBuilder()
                        .setRegion(region).setByteSize(FRAME_BYTES))).build();
        return InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .predict(PredictRequest.newBuilder().setModel("cnn").addImages(image).build())
                .getResults(0).getClassesCount();
    }

    private static void inferIntoRegion(ManagedChannel channel, String region) {
        oip(channel).modelInfer(ModelInferRequest.newBuilder().setModelName("cnn")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input").setDatatype("UINT8")
                        .addShape(1).addShape(SIDE).addShape(SIDE).addShape(3))
                .addRawInputContents(TestImages.pixels(TestImages.picture(SIDE, SIDE, 3)).getPixels().getData())
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("output_0")
                        .putParameters("shared_memory_region", InferParameter.newBuilder().setStringParam(region)
                                .build())
                        .putParameters("shared_memory_byte_size", InferParameter.newBuilder().setInt64Param(64)
                                .build()))
                .build());
    }

    private static String deniedReason(Executable call) {
        Status status = assertThrows(StatusRuntimeException.class, call).getStatus();
        assertEquals(Status.Code.PERMISSION_DENIED, status.getCode(), status.getDescription());
        assertTrue(!status.getDescription().contains("\n"), "one line: " + status.getDescription());
        return status.getDescription();
    }

    @Test
    void byDefaultOnlyTheServersUidOverTheUnixSocketUsesSharedMemory() throws Exception {
        try (Listening server = start(SharedMemoryAccess.defaults())) {
            register(server.unix(), "camera", "frames", FRAME_BYTES);
            register(server.unix(), "out", "out", 64);
            assertEquals(5, classesOfFrameIn(server.unix(), "camera"));
            inferIntoRegion(server.unix(), "out");

            assertTrue(deniedReason(() -> register(server.tcp(), "tcp", "frames", FRAME_BYTES))
                    .contains("--allow-shared-memory-tcp"));
            deniedReason(() -> classesOfFrameIn(server.tcp(), "camera"));
            deniedReason(() -> inferIntoRegion(server.tcp(), "out"));
            deniedReason(() -> oip(server.tcp()).systemSharedMemoryStatus(
                    SystemSharedMemoryStatusRequest.getDefaultInstance()));
            assertEquals(2, oip(server.unix()).systemSharedMemoryStatus(
                    SystemSharedMemoryStatusRequest.getDefaultInstance()).getRegionsCount());
        }
    }

    @Test
    void tcpNeedsTheFlagAndEvenThenGetsNoOutputsInSharedMemory() throws Exception {
        try (Listening server = start(new SharedMemoryAccess(true, Set.of(SharedMemoryAccess.serverUid())))) {
            register(server.tcp(), "camera", "frames", FRAME_BYTES);
            register(server.tcp(), "out", "out", 64);
            assertEquals(5, classesOfFrameIn(server.tcp(), "camera"));
            assertTrue(deniedReason(() -> inferIntoRegion(server.tcp(), "out")).contains("TCP peer"));
            inferIntoRegion(server.unix(), "out");
        }
    }

    @Test
    void aUnixSocketPeerWhoseUidIsNotAllowedIsRefused() throws Exception {
        int other = SharedMemoryAccess.serverUid() + 1;
        try (Listening server = start(new SharedMemoryAccess(false, Set.of(other)))) {
            String reason = deniedReason(() -> register(server.unix(), "camera", "frames", FRAME_BYTES));
            assertEquals("shared memory is refused to Unix socket peer uid " + SharedMemoryAccess.serverUid()
                    + "; allowed uids: [" + other + "] (--shared-memory-uids)", reason);
            deniedReason(() -> register(server.tcp(), "camera", "frames", FRAME_BYTES));
        }
    }
}
