package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A sidecar's client reaches the server through a Unix domain socket with a {@code unix://} target. */
@Timeout(30)
class UnixSocketTargetTest {

    @TempDir
    Path folder;

    @Test
    void unixTargetsReachAServerOnADomainSocket() throws Exception {
        Path path = folder.resolve("fovea.sock");
        MultiThreadIoEventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(path.toString()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(loops)
                .workerEventLoopGroup(loops).addService(new FakeInferenceService()).build().start();
        try (FoveaClient client = FoveaClient.forTarget("unix://" + path).build()) {
            assertEquals(FakeInferenceService.MODELS, client.listModels());
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
