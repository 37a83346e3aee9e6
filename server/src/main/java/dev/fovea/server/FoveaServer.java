package dev.fovea.server;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.server.grpc.Callers;
import dev.fovea.server.grpc.InferenceService;
import dev.fovea.server.grpc.LenientServices;
import dev.fovea.server.grpc.OpenInferenceService;
import dev.fovea.server.grpc.ShutdownDrain;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.serving.Dispatcher;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.tracing.TraceConfig;
import dev.fovea.server.tracing.Tracing;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * The running server: the model repository (already loaded and warmed up) behind fovea.v1.InferenceService and the
 * Open Inference Protocol's inference.GRPCInferenceService, grpc.health.v1 (overall and per model: the service name
 * is the model's name) and server reflection.
 *
 * <p>Ownership: takes the repository, the shared-memory registry and the tracing and closes them in {@link #stop}.
 * The listeners are the caller's choice of transports (Netty on TCP and a Unix socket for the real thing, in-process
 * for tests): one gRPC server per listener, all with the same services and executor, so a request is served the same
 * way whichever way it came in.
 */
public final class FoveaServer {

    private static final Logger log = Logger.getLogger(FoveaServer.class.getName());

    /**
     * The inference calls, whose handlers parse, validate and queue without blocking (a shared-memory input is a
     * copy from a mapping the registry checked, no file I/O), so they run on the transport thread that read the
     * message instead of waking a call thread per message.
     */
    private static final Set<String> INLINE_METHODS = Set.of(
            InferenceServiceGrpc.getPredictMethod().getFullMethodName(),
            InferenceServiceGrpc.getStreamPredictMethod().getFullMethodName(),
            GRPCInferenceServiceGrpc.getModelInferMethod().getFullMethodName(),
            GRPCInferenceServiceGrpc.getModelStreamInferMethod().getFullMethodName());

    private final ModelRepository repository;
    private final SharedMemoryRegistry sharedMemory;
    private final Tracing tracing;
    private final ExecutorService callExecutor;
    private final HealthStatusManager health = new HealthStatusManager();
    private final ShutdownDrain shutdownDrain = new ShutdownDrain();
    private final List<Server> servers = new ArrayList<>();
    /** What the first {@link #stop} returned; null until then. Guarded by this. */
    private Boolean drained;
    private final OpenInferenceService openInferenceService;

    private FoveaServer(Builder builder) {
        this.repository = builder.repository;
        this.sharedMemory = builder.sharedMemory;
        this.tracing = builder.tracing;
        ServerMetrics metrics = builder.metrics;
        metrics.exportQueueDepths(() -> repository.servedModels().stream()
                .collect(Collectors.toMap(ServedModel::name, model -> model.runner().queueDepth())));
        // Models load, fail and unload while the server runs (model control): health follows.
        repository.addListener(model -> health.setStatus(model.getName(),
                model.getStatus() == ModelStatus.MODEL_STATUS_READY ? ServingStatus.SERVING
                        : ServingStatus.NOT_SERVING));
        AtomicInteger threadNumber = new AtomicInteger();
        this.callExecutor = Executors.newFixedThreadPool(builder.callThreads, task -> Thread.ofPlatform()
                .name("fovea-grpc-" + threadNumber.incrementAndGet()).daemon().unstarted(task));
        Dispatcher dispatcher = new Dispatcher(repository, metrics, tracing);
        ServerServiceDefinition inference = new InferenceService(dispatcher, repository, sharedMemory,
                builder.imageLimits, shutdownDrain).definition();
        this.openInferenceService = new OpenInferenceService(dispatcher, repository, metrics, sharedMemory,
                builder.imageLimits, shutdownDrain);
        ServerServiceDefinition openInference = openInferenceService.definition();
        for (ServerBuilder<?> listener : builder.listeners) {
            servers.add(listener
                    // The method lookup runs on the server's executor: direct, on the transport thread, so that
                    // an inference call never changes threads; every other call (model control, shared-memory
                    // registration, which opens files, health, reflection) moves to the call threads there.
                    .executor(Runnable::run)
                    .callExecutor(new ServerCallExecutorSupplier() {
                        @Override
                        public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
                            return INLINE_METHODS.contains(call.getMethodDescriptor().getFullMethodName())
                                    ? null : callExecutor;
                        }
                    })
                    .intercept(new Callers())
                    .intercept(tracing.interceptor())
                    .addService(inference)
                    .addService(openInference)
                    .addService(LenientServices.of(health.getHealthService()))
                    .addService(LenientServices.of(ProtoReflectionServiceV1.newInstance()))
                    .build());
        }
    }

    /**
     * A builder for a server over {@code repository}, whose runners report to {@code metrics} (the services count
     * requests there too).
     */
    public static Builder builder(ModelRepository repository, ServerMetrics metrics) {
        return new Builder(repository, metrics);
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
        health.setStatus(GRPCInferenceServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
        return this;
    }

    /** The TCP port of the first listener (useful when started on port 0); -1 if it has none. */
    public int port() {
        return servers.getFirst().getPort();
    }

    /**
     * Stops the server: health reports NOT_SERVING and new calls get UNAVAILABLE at once; running unary calls finish;
     * streams take no more messages, answer the ones they took and end with UNAVAILABLE. Inference calls still
     * running after {@code graceMillis} are cancelled, and so, once inference calls are over, are health Watch and
     * reflection streams. Then drains the models' queues and frees their native memory. A later call (or one
     * concurrent with the first) waits for the first and returns its result.
     *
     * @return true if every inference call ended by itself within the grace, false if some had to be cancelled
     */
    public synchronized boolean stop(long graceMillis) throws InterruptedException {
        if (drained != null) {
            return drained;
        }
        health.enterTerminalState();
        shutdownDrain.begin();
        servers.forEach(Server::shutdown);
        boolean clean = shutdownDrain.awaitCalls(graceMillis);
        if (!clean) {
            log.warning("calls still running after " + graceMillis + " ms; cancelling them");
        }
        // What is left now either ran past the grace or only observes the server (a health Watch, a reflection
        // stream) and would hold it open for the whole grace: cancel it.
        for (Server server : servers) {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
        repository.close();
        sharedMemory.close();
        tracing.close();
        callExecutor.shutdown();
        callExecutor.awaitTermination(5, TimeUnit.SECONDS);
        drained = clean;
        return clean;
    }

    /** Streams open now; none are left behind once a stream ends, however it ends. */
    public int openStreams() {
        return shutdownDrain.openStreams();
    }

    /** The Open Inference Protocol service, for the HTTP binding to call (it serves the same queues). */
    public OpenInferenceService openInference() {
        return openInferenceService;
    }

    public ModelRepository repository() {
        return repository;
    }

    /** Names of the models that serve, for the start-up log. */
    public String servedModelNames() {
        return String.join(", ", repository.servedModels().stream().map(ServedModel::name).toList());
    }

    /** Configures a {@link FoveaServer}. */
    public static final class Builder {
        private final ModelRepository repository;
        private final ServerMetrics metrics;
        private final List<ServerBuilder<?>> listeners = new ArrayList<>();
        private int callThreads = 8;
        private SharedMemoryRegistry sharedMemory = SharedMemoryRegistry.disabled();
        private ImageLimits imageLimits = ImageLimits.DEFAULT;
        private Tracing tracing;

        private Builder(ModelRepository repository, ServerMetrics metrics) {
            this.repository = Objects.requireNonNull(repository, "repository");
            this.metrics = Objects.requireNonNull(metrics, "metrics");
        }

        /** Serves on this transport too; at least one is needed. The server sets its executor and services. */
        public Builder listener(ServerBuilder<?> listener) {
            listeners.add(Objects.requireNonNull(listener, "listener"));
            return this;
        }

        /**
         * Threads that send responses and run the handlers of calls other than inference (default 8); none of it
         * computes, so a few per core suffice.
         */
        public Builder callThreads(int callThreads) {
            if (callThreads < 1) {
                throw new IllegalArgumentException("callThreads must be >= 1, got " + callThreads);
            }
            this.callThreads = callThreads;
            return this;
        }

        /** The shared-memory regions clients may register; the server takes it and closes it on stop (default off). */
        public Builder sharedMemory(SharedMemoryRegistry sharedMemory) {
            this.sharedMemory = Objects.requireNonNull(sharedMemory, "sharedMemory");
            return this;
        }

        /** How many pixels one request's pictures may cost (default {@link ImageLimits#DEFAULT}). */
        public Builder imageLimits(ImageLimits imageLimits) {
            this.imageLimits = Objects.requireNonNull(imageLimits, "imageLimits");
            return this;
        }

        /**
         * Request tracing; the server takes it and closes it on stop (default: {@link TraceConfig#DEFAULT}, off until
         * TraceSetting turns it on).
         */
        public Builder tracing(Tracing tracing) {
            this.tracing = Objects.requireNonNull(tracing, "tracing");
            return this;
        }

        public FoveaServer build() {
            if (listeners.isEmpty()) {
                throw new IllegalStateException("a server needs at least one listener");
            }
            if (tracing == null) {
                tracing = Tracing.of(TraceConfig.DEFAULT);
            }
            return new FoveaServer(this);
        }
    }
}
