package dev.fovea.server;

import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.InferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * A FoveaServer over the test repository (src/test/python/make_server_fixtures.py), in process, with a channel to
 * it. Close it to stop the server and free the models.
 */
public final class TestServer implements AutoCloseable {

    private final FoveaServer server;
    private final ManagedChannel channel;

    private TestServer(FoveaServer server, ManagedChannel channel) {
        this.server = server;
        this.channel = channel;
    }

    public static Path repositoryPath() {
        try {
            return Path.of(TestServer.class.getResource("/repository").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static TestServer start() throws IOException {
        return start(64);
    }

    public static TestServer start(int queueCapacity) throws IOException {
        String name = InProcessServerBuilder.generateName();
        ModelRepository repository = ModelRepository.open(repositoryPath(), new ModelRepository.Options(queueCapacity));
        FoveaServer server = new FoveaServer(InProcessServerBuilder.forName(name), repository, 4).start();
        return new TestServer(server, InProcessChannelBuilder.forName(name).build());
    }

    public ManagedChannel channel() {
        return channel;
    }

    public InferenceServiceGrpc.InferenceServiceBlockingStub blocking() {
        return InferenceServiceGrpc.newBlockingStub(channel);
    }

    public InferenceServiceGrpc.InferenceServiceStub async() {
        return InferenceServiceGrpc.newStub(channel);
    }

    public FoveaServer server() {
        return server;
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow();
        server.stop(5_000);
    }
}
