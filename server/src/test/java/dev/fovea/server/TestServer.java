package dev.fovea.server;

import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.InferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

/**
 * A FoveaServer over the test repository (src/test/python/make_server_fixtures.py), in process, with a channel to
 * it. Close it to stop the server and free the models.
 */
public final class TestServer implements AutoCloseable {

    private final FoveaServer server;
    private final ManagedChannel channel;
    private final ServerMetrics metrics;

    private TestServer(FoveaServer server, ManagedChannel channel, ServerMetrics metrics) {
        this.server = server;
        this.channel = channel;
        this.metrics = metrics;
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
        return start(queueCapacity, SharedMemoryRegistry.disabled());
    }

    public static TestServer start(int queueCapacity, SharedMemoryRegistry sharedMemory) throws IOException {
        return start(queueCapacity, sharedMemory, ImageLimits.DEFAULT);
    }

    public static TestServer start(int queueCapacity, SharedMemoryRegistry sharedMemory, ImageLimits imageLimits)
            throws IOException {
        String name = InProcessServerBuilder.generateName();
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(repositoryPath(), new ModelRepository.Options(queueCapacity, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics)
                .listener(InProcessServerBuilder.forName(name)).callThreads(4).sharedMemory(sharedMemory)
                .imageLimits(imageLimits).build().start();
        return new TestServer(server, InProcessChannelBuilder.forName(name).build(), metrics);
    }

    /** A server over {@code repository} in model control {@code mode}, loading {@code load} at start. */
    public static TestServer start(Path repository, ModelRepository.ControlMode mode, List<String> load)
            throws IOException {
        String name = InProcessServerBuilder.generateName();
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository models = ModelRepository.open(repository, new ModelRepository.Options(64, 2, metrics), mode,
                load);
        FoveaServer server = FoveaServer.builder(models, metrics).listener(InProcessServerBuilder.forName(name))
                .callThreads(4).build().start();
        return new TestServer(server, InProcessChannelBuilder.forName(name).build(), metrics);
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

    public ServerMetrics metrics() {
        return metrics;
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
