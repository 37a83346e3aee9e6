package dev.fovea.server;

import dev.fovea.server.grpc.InferenceService;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * The running server: the model repository (already loaded and warmed up) behind fovea.v1.InferenceService,
 * grpc.health.v1 (overall and per model: the service name is the model's name) and server reflection.
 *
 * <p>Ownership: takes the repository and closes it in {@link #stop}. The builders are the caller's choice of
 * transports (Netty on TCP and a Unix socket for the real thing, in-process for tests): one gRPC server per builder,
 * all with the same services and executor, so a request is served the same way whichever way it came in.
 */
public final class FoveaServer {

    private static final Logger log = Logger.getLogger(FoveaServer.class.getName());

    private final ModelRepository repository;
    private final ExecutorService callExecutor;
    private final HealthStatusManager health = new HealthStatusManager();
    private final List<Server> servers = new ArrayList<>();

    /**
     * @param callThreads threads that run gRPC handlers and send responses; they only validate, copy and queue, so
     *     a few per core suffice
     * @param metrics where the services count requests; the same instance the repository's runners report to
     */
    public FoveaServer(List<? extends ServerBuilder<?>> listeners, ModelRepository repository, int callThreads,
            ServerMetrics metrics) {
        this.repository = Objects.requireNonNull(repository, "repository");
        if (listeners.isEmpty()) {
            throw new IllegalArgumentException("a server needs at least one listener");
        }
        metrics.exportQueueDepths(() -> repository.servedModels().stream()
                .collect(Collectors.toMap(ServedModel::name, model -> model.runner().queueDepth())));
        AtomicInteger threadNumber = new AtomicInteger();
        this.callExecutor = Executors.newFixedThreadPool(callThreads, task -> Thread.ofPlatform()
                .name("fovea-grpc-" + threadNumber.incrementAndGet()).daemon().unstarted(task));
        ServerServiceDefinition inference = new InferenceService(repository, callExecutor, metrics).definition();
        for (ServerBuilder<?> builder : listeners) {
            servers.add(builder
                    .executor(callExecutor)
                    .addService(inference)
                    .addService(health.getHealthService())
                    .addService(ProtoReflectionServiceV1.newInstance())
                    .build());
        }
    }

    /** A server with a single listener. */
    public FoveaServer(ServerBuilder<?> listener, ModelRepository repository, int callThreads, ServerMetrics metrics) {
        this(List.of(listener), repository, callThreads, metrics);
    }

    /** Starts listening, then reports SERVING (models are ready: the repository warmed them up). */
    public FoveaServer start() throws IOException {
        for (Server server : servers) {
            server.start();
        }
        for (ModelInfo model : repository.describeAll()) {
            health.setStatus(model.getName(), model.getStatus() == ModelStatus.MODEL_STATUS_READY
                    ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
        }
        health.setStatus(InferenceServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
        return this;
    }

    /** The TCP port of the first listener (useful when started on port 0); -1 if it has none. */
    public int port() {
        return servers.getFirst().getPort();
    }

    /**
     * Stops accepting calls, lets the running ones finish for at most {@code graceMillis}, then cancels what is left,
     * drains the models' queues and frees their native memory. Safe to call more than once.
     */
    public void stop(long graceMillis) throws InterruptedException {
        health.enterTerminalState();
        servers.forEach(Server::shutdown);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
        for (Server server : servers) {
            if (!server.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                log.warning("calls still running after " + graceMillis + " ms; cancelling them");
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        repository.close();
        callExecutor.shutdown();
        callExecutor.awaitTermination(5, TimeUnit.SECONDS);
    }

    public void blockUntilShutdown() throws InterruptedException {
        for (Server server : servers) {
            server.awaitTermination();
        }
    }

    public ModelRepository repository() {
        return repository;
    }

    /** Names of the models that serve, for the start-up log. */
    public String servedModelNames() {
        return String.join(", ", repository.servedModels().stream().map(ServedModel::name).toList());
    }
}
