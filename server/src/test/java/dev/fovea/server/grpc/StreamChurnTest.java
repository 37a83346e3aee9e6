package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Streams opened and ended (half of them cancelled mid-flight) over real Netty leave nothing behind. */
class StreamChurnTest {

    private static final int ROUNDS = 3;
    private static final int STREAMS_PER_ROUND = 40;
    private static final int FRAMES = 6;
    /** Cancelled streams cancel after this many answers, with frames still running and queued. */
    private static final int ANSWERS_BEFORE_CANCEL = 2;
    /** 224 x 224 RGB frames: a frame's native copy left behind by each cancelled stream would add 9 MiB a round. */
    private static final Image FRAME = TestImages.pixels(TestImages.picture(224, 224, 7));
    /** Netty's pooled chunks and malloc's own bookkeeping; a leak of whole requests grows far past it. */
    private static final long NATIVE_SLACK_BYTES = 48L << 20;

    @Test
    void churnOfStreamsHalfCancelledLeavesNoStreamsThreadsOrNativeMemoryBehind() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(64, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics).callThreads(4)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
                .directExecutor().build();
        try {
            round(channel, server); // warms up threads, Netty's pools and malloc's arenas
            int threads = Thread.activeCount();
            long nativeBytes = nativeBytes(metrics);

            for (int round = 0; round < ROUNDS; round++) {
                round(channel, server);
            }

            assertTrue(Thread.activeCount() <= threads + 2, "threads: " + threads + " after the first round, "
                    + Thread.activeCount() + " after " + ROUNDS + " more");
            long grown = nativeBytes(metrics) - nativeBytes;
            assertTrue(grown < NATIVE_SLACK_BYTES, "native memory grew by " + (grown >> 20) + " MiB");
            assertEquals(0, repository.find("cnn").orElseThrow().runner().queueDepth());
        } finally {
            channel.shutdownNow();
            server.stop(5_000);
        }
    }

    /** Runs {@link #STREAMS_PER_ROUND} streams at once, every other one cancelled, until the server has let go of all. */
    private static void round(ManagedChannel channel, FoveaServer server) throws Exception {
        List<Client> clients = new ArrayList<>();
        for (int i = 0; i < STREAMS_PER_ROUND; i++) {
            Client client = new Client(i % 2 == 1);
            InferenceServiceGrpc.newStub(channel).streamPredict(client);
            client.send();
            clients.add(client);
        }
        for (Client client : clients) {
            Status status = client.done.get(1, TimeUnit.MINUTES);
            assertEquals(client.cancels ? Status.Code.CANCELLED : Status.Code.OK, status.getCode(), status.toString());
        }
        // The server hears of a cancellation a little after the client: give it a while (a hang guard, not a speed
        // requirement: on a busy machine it is a few polls).
        for (int poll = 0; poll < 6_000 && server.openStreams() > 0; poll++) {
            Thread.sleep(10);
        }
        assertEquals(0, server.openStreams(), "streams the server still holds after all ended");
    }

    private static long nativeBytes(ServerMetrics metrics) {
        System.gc(); // frees the native copies of requests whose arenas only a Cleaner still holds, if any
        return metrics.registry().scrape().stream()
                .filter(snapshot -> snapshot.getMetadata().getName().equals("fovea_native_memory_bytes"))
                .map(snapshot -> (long) ((GaugeSnapshot) snapshot).getDataPoints().getFirst().getValue())
                .findFirst().orElseThrow(() -> new AssertionError("no fovea_native_memory_bytes"));
    }

    /** Sends options and {@link #FRAMES} frames, then half-closes, or cancels after a few answers. */
    private static final class Client implements ClientResponseObserver<StreamPredictRequest, StreamPredictResponse> {
        final boolean cancels;
        final CompletableFuture<Status> done = new CompletableFuture<>();
        private ClientCallStreamObserver<StreamPredictRequest> call;
        private int answers;

        Client(boolean cancels) {
            this.cancels = cancels;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<StreamPredictRequest> call) {
            this.call = call;
        }

        void send() {
            call.onNext(StreamPredictRequest.newBuilder().setOptions(StreamOptions.newBuilder().setModel("cnn"))
                    .build());
            for (int i = 0; i < FRAMES; i++) {
                call.onNext(StreamPredictRequest.newBuilder().setFrame(Frame.newBuilder().setFrameId(i)
                        .setImage(FRAME)).build());
            }
            if (!cancels) {
                call.onCompleted();
            }
        }

        @Override
        public void onNext(StreamPredictResponse response) {
            answers++;
            if (cancels && answers == ANSWERS_BEFORE_CANCEL) {
                call.cancel("the client leaves mid-stream", null);
            }
        }

        @Override
        public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            done.complete(Status.OK);
        }
    }
}
