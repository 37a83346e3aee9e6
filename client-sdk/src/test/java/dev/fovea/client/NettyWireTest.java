package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.client.FakeInferenceService.FakeStream;
import dev.fovea.v1.Frame;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.StreamOptions;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The client over real HTTP/2 (Netty on loopback), where flow control and message limits are the transport's. */
class NettyWireTest {

    private final FakeInferenceService service = new FakeInferenceService();
    private Server server;
    private FoveaClient client;

    @BeforeEach
    void start() throws Exception {
        server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).addService(service).build()
                .start();
        client = FoveaClient.forTarget("localhost:" + server.getPort()).build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void aSenderIsHeldBackByHttp2FlowControlWhileTheServerDoesNotRead() throws Exception {
        service.readStreamsAutomatically = false;
        RecordingListener listener = new RecordingListener();
        FrameStream stream = client.stream(StreamOptions.newBuilder().setModel("shapes").build(), listener);
        FakeStream serverSide = service.streams.poll(5, TimeUnit.SECONDS);
        int frames = 200;
        byte[] pixels = new byte[256 * 256];
        AtomicInteger sent = new AtomicInteger();
        ExecutorService sender = Executors.newSingleThreadExecutor();
        try {
            Future<?> sending = sender.submit(() -> {
                for (int id = 1; id <= frames; id++) {
                    stream.send(Frame.newBuilder().setFrameId(id)
                            .setImage(Images.pixels(pixels, 256, 256, 0, PixelFormat.PIXEL_FORMAT_GRAY)).build());
                    sent.incrementAndGet();
                }
                return null;
            });
            int stalledAt;
            do {
                stalledAt = sent.get();
                Thread.sleep(300);
            } while (sent.get() != stalledAt);
            // 64 KiB frames against the server's HTTP/2 window (1 MiB) and the client's small send buffer.
            assertTrue(stalledAt < 40, "the sender stalled after " + stalledAt + " of " + frames + " frames");

            serverSide.request(frames);
            sending.get(10, TimeUnit.SECONDS);
        } finally {
            sender.shutdownNow();
        }
        stream.complete();
        assertTrue(stream.awaitTermination(Duration.ofSeconds(10)));
        assertEquals(Status.Code.OK, listener.awaitClose().getCode());
        assertEquals(frames, listener.responses.size());
    }

    @Test
    void aResponseOverTheClientsLimitFailsWithResourceExhausted() {
        service.label = "x".repeat(10_000);
        try (FoveaClient small = FoveaClient.forTarget("localhost:" + server.getPort()).maxInboundMessageSize(1_000)
                .build()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> small.predictPixels("shapes", new byte[3], 1, 1, 0, PixelFormat.PIXEL_FORMAT_RGB));
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        }
        assertEquals(service.label, client.predictPixels("shapes", new byte[3], 1, 1, 0,
                PixelFormat.PIXEL_FORMAT_RGB).getClasses(0).getLabel());
    }

    @Test
    void anUnreachableServerIsUnavailable() throws Exception {
        int port = server.getPort();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        try (FoveaClient orphan = FoveaClient.forTarget("localhost:" + port).build()) {
            assertEquals(Status.Code.UNAVAILABLE,
                    assertThrows(StatusRuntimeException.class, orphan::listModels).getStatus().getCode());
        }
    }
}
