package dev.fovea.server.cli;

import dev.fovea.server.FoveaServer;
import dev.fovea.server.http.HttpServer;
import dev.fovea.server.inference.CpuCompute;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.metrics.IdleReclaimer;
import dev.fovea.server.metrics.ScrapeExecutor;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.RepositoryPoller;
import dev.fovea.server.sharedmemory.SharedMemoryAccess;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.tracing.TraceConfig;
import dev.fovea.server.tracing.Tracing;
import dev.fovea.server.transport.UnixSocket;
import dev.fovea.torch.TorchRuntime;
import io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code fovea serve}: loads and warms up the models of a repository (every one, or in explicit model control mode
 * the ones named), then serves fovea.v1 over gRPC until SIGTERM
 * or SIGINT, when it stops accepting calls, finishes the running ones (streams answer the frames they took and end
 * with UNAVAILABLE) and frees native memory. Exits 0 if that drain ended within {@code --shutdown-grace-seconds},
 * else 128 + the signal's number, as if the signal had killed it.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve the models of a model repository over gRPC and HTTP.")
final class ServeCommand implements Callable<Integer> {

    /** How long the server must be without work before it gives memory back to the system. */
    private static final long IDLE_RECLAIM_SECONDS = 10;

    @Spec
    private CommandSpec spec;

    @Option(names = "--model-repository", required = true,
            description = "Folder with one sub-folder per model: model.pt, config.pbtxt, labels.txt.")
    private Path modelRepository;

    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Address of the TCP and metrics listeners; 0.0.0.0 for every interface, as containers need "
                    + "(default: ${DEFAULT-VALUE}, this host only).")
    private String host;

    @Option(names = "--port", defaultValue = "8001",
            description = "TCP port to listen on; 0 picks a free one, -1 turns TCP off (with --uds) (default: ${DEFAULT-VALUE}).")
    private int port;

    @Option(names = "--uds", description = "Also listen on this Unix domain socket (a sidecar's app connects to unix://PATH). "
            + "A stale socket file is removed at start; the file is deleted at shutdown.")
    private Path uds;

    @Option(names = "--uds-mode", defaultValue = UnixSocket.DEFAULT_MODE,
            description = "File mode of the --uds socket, octal (default: ${DEFAULT-VALUE}: owner and group).")
    private String udsMode;

    @Option(names = "--allow-shared-memory",
            description = "Let clients register regions of /dev/shm and send frames by reference (off by default). "
                    + "Only over --uds, and only for peers with the --shared-memory-uids.")
    private boolean allowSharedMemory;

    @Option(names = "--shared-memory-uids", split = ",", paramLabel = "UID",
            description = "Uids of Unix socket peers that may use shared memory (default: the server's own).")
    private List<Integer> sharedMemoryUids;

    @Option(names = "--allow-shared-memory-tcp",
            description = "DANGEROUS: let TCP clients use shared memory too. The server cannot tell who they are: "
                    + "anyone who reaches the port may make it map (read) any file in /dev/shm it can open.")
    private boolean allowSharedMemoryTcp;

    @Option(names = "--metrics-port", defaultValue = "8002",
            description = "Port of the Prometheus endpoint (/metrics); 0 picks a free one, -1 turns it off (default: ${DEFAULT-VALUE}).")
    private int metricsPort;

    @Option(names = "--http-port", defaultValue = "8000",
            description = "Port of the Open Inference Protocol's HTTP/REST binding (KServe v2 REST with Triton's "
                    + "extensions); 0 picks a free one, -1 turns it off (default: ${DEFAULT-VALUE}).")
    private int httpPort;

    @Option(names = "--max-message-bytes", defaultValue = "67108864",
            description = "Largest request message accepted; larger ones get RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE}).")
    private int maxMessageBytes;

    @Option(names = "--max-image-pixels", defaultValue = "" + ImageLimits.DEFAULT_IMAGE_PIXELS,
            description = "Most pixels (width x height) of one picture, encoded (as its header claims) or raw; "
                    + "larger ones get INVALID_ARGUMENT before they are decoded (default: ${DEFAULT-VALUE}, 8K UHD).")
    private long maxImagePixels;

    @Option(names = "--max-request-pixels", defaultValue = "" + ImageLimits.DEFAULT_REQUEST_PIXELS,
            description = "Most pixels of all the pictures of one request or stream frame together (default: "
                    + "${DEFAULT-VALUE}, 64 frames of 1920x1080).")
    private long maxRequestPixels;

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads; 0 means one per core (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--compute-threads", defaultValue = "0",
            description = "Threads that run CPU models' batches, shared by all models; 0 means cores / --threads, "
                    + "so OpenMP threads never outnumber cores (default: ${DEFAULT-VALUE}).")
    private int computeThreads;

    @Option(names = "--call-threads", defaultValue = "8",
            description = "Threads that send gRPC responses and run the handlers of calls other than inference, which "
                    + "run on the transport threads; none of them compute (default: ${DEFAULT-VALUE}).")
    private int callThreads;

    @Option(names = "--queue-capacity", defaultValue = "64",
            description = "Requests each model may hold waiting before new ones get RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE}).")
    private int queueCapacity;

    @Option(names = "--shutdown-grace-seconds", defaultValue = "30",
            description = "How long SIGTERM waits for running calls and streams to drain before cancelling them; "
                    + "the exit status is 0 if they drained in time (default: ${DEFAULT-VALUE}).")
    private int graceSeconds;

    @Option(names = "--model-control-mode", defaultValue = "none", paramLabel = "MODE",
            description = "none: load every model at start, change nothing after; poll: also rescan the repository "
                    + "every --repository-poll-seconds, loading new and changed models and versions and unloading "
                    + "removed ones; explicit: load the --load-model models at start, the rest on request "
                    + "(LoadModel/UnloadModel, RepositoryModelLoad/Unload) (default: ${DEFAULT-VALUE}).")
    private String modelControlMode;

    @Option(names = "--repository-poll-seconds", defaultValue = "15",
            description = "How often poll mode rescans the repository (default: ${DEFAULT-VALUE}).")
    private int repositoryPollSeconds;

    @Option(names = "--load-model", paramLabel = "NAME",
            description = "In explicit mode, a model to load at start; repeatable; * loads them all.")
    private List<String> loadModels;
    @Option(names = "--trace-config", paramLabel = "[MODE,]SETTING=VALUE",
            description = "Request tracing with OpenTelemetry, in Triton's syntax; repeat for each setting: "
                    + "level=OFF|TIMESTAMPS, rate=N (1 in N requests), count=N (-1: no limit), mode=opentelemetry, "
                    + "opentelemetry,url=http://HOST:4318/v1/traces, opentelemetry,resource=KEY=VALUE, "
                    + "opentelemetry,bsp_max_queue_size=N, opentelemetry,bsp_schedule_delay=MS, "
                    + "opentelemetry,bsp_max_export_batch_size=N (default: level=OFF, rate=1000, count=-1).")
    private List<String> traceConfig = List.of();

    @Mixin
    private SecurityOptions security;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        ModelRepository.ControlMode mode = controlMode();
        if (port < 0 && uds == null) {
            throw new ParameterException(spec.commandLine(), "--port -1 turns TCP off; give --uds to listen somewhere");
        }
        ImageLimits imageLimits;
        try {
            imageLimits = new ImageLimits(maxImagePixels, maxRequestPixels);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--max-image-pixels/--max-request-pixels: "
                    + e.getMessage());
        }
        TraceConfig tracingConfig;
        try {
            tracingConfig = TraceConfig.parse(traceConfig);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (!allowSharedMemory && (allowSharedMemoryTcp || sharedMemoryUids != null)) {
            throw new ParameterException(spec.commandLine(),
                    "--allow-shared-memory-tcp and --shared-memory-uids need --allow-shared-memory");
        }
        security.load(spec.commandLine());
        if (port >= 0 || metricsPort >= 0) {
            security.warnIfExposed(host, spec.commandLine().getErr());
        }
        TorchRuntime.setIntraOpThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
        out.printf("fovea: libtorch %s, %d intra-op threads, CUDA devices: %d%n", TorchRuntime.torchVersion(),
                TorchRuntime.intraOpThreads(), TorchRuntime.cudaDeviceCount());
        out.flush();
        UnixSocket socket = uds == null ? null : UnixSocket.open(uds, udsMode);
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository;
        try {
            repository = ModelRepository.open(modelRepository,
                    new ModelRepository.Options(queueCapacity, computeThreads > 0 ? computeThreads
                            : CpuCompute.defaultThreads(Runtime.getRuntime().availableProcessors(),
                                    TorchRuntime.intraOpThreads()), metrics),
                    mode, loadModels == null ? List.of() : loadModels);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--load-model: " + e.getMessage());
        }
        RepositoryPoller poller = mode == ModelRepository.ControlMode.POLL
                ? RepositoryPoller.start(repository, repositoryPollSeconds) : null;
        List<NettyServerBuilder> listeners = new ArrayList<>();
        if (port >= 0) {
            listeners.add(security.tcpListener(new InetSocketAddress(host, port)));
        }
        if (socket != null) {
            listeners.add(socket.serverBuilder());
        }
        FoveaServer.Builder builder = FoveaServer.builder(repository, metrics).callThreads(callThreads)
                .imageLimits(imageLimits).tracing(Tracing.of(tracingConfig))
                .sharedMemory(allowSharedMemory ? SharedMemoryRegistry.enabled(SharedMemoryRegistry.SYSTEM_ROOT,
                        sharedMemoryAccess()) : SharedMemoryRegistry.disabled());
        listeners.forEach(listener -> builder.listener(listener.maxInboundMessageSize(maxMessageBytes)));
        FoveaServer server = builder.build().start();
        if (socket != null) {
            socket.restrictAccess();
        }
        HTTPServer metricsServer = metricsPort < 0 ? null : security.metrics(HTTPServer.builder()).hostname(host)
                .port(metricsPort).registry(metrics.registry()).executorService(ScrapeExecutor.create())
                .buildAndStart();
        // Event loops parse and route; they never compute, so a few serve any number of connections.
        HttpServer http = httpPort < 0 ? null : HttpServer.start(server.openInference(), host, httpPort,
                maxMessageBytes, Math.min(4, Runtime.getRuntime().availableProcessors()), security.http());
        if (http != null) {
            out.printf("fovea: HTTP on %s://%s:%d%n", security.scheme(), host, http.port());
        }
        if (metricsServer != null) {
            out.printf("fovea: metrics on %s://%s:%d/metrics%n", security.scheme(), host,
                    metricsServer.getPort());
        }
        if (port >= 0) {
            out.printf("fovea: serving [%s] on %s:%d%n", server.servedModelNames(), host, server.port());
        }
        if (socket != null) {
            out.printf("fovea: serving [%s] on unix://%s%n", server.servedModelNames(), socket.path().toAbsolutePath());
        }
        // Installed only now: a signal while models load still kills the process at once, as there is nothing to drain.
        StopSignal stop = StopSignal.install();
        IdleReclaimer reclaimer = IdleReclaimer.start(metrics::requestsFinished, IDLE_RECLAIM_SECONDS,
                TimeUnit.SECONDS);
        out.flush();
        int signal = stop.await();
        reclaimer.close();
        if (poller != null) {
            poller.close();
        }
        if (http != null) {
            http.stopAccepting();
        }
        boolean drained = server.stop(graceSeconds * 1000L);
        if (http != null) {
            http.close();
        }
        if (socket != null) {
            socket.close();
        }
        if (metricsServer != null) {
            metricsServer.close();
        }
        System.err.println(drained ? "fovea: stopped" : "fovea: stopped; calls still running after the grace were "
                + "cancelled");
        return drained ? 0 : 128 + signal;
    }

    private ModelRepository.ControlMode controlMode() {
        ModelRepository.ControlMode mode;
        try {
            mode = ModelRepository.ControlMode.valueOf(modelControlMode.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--model-control-mode: '" + modelControlMode
                    + "' is not one of none, poll, explicit");
        }
        if (loadModels != null && mode != ModelRepository.ControlMode.EXPLICIT) {
            throw new ParameterException(spec.commandLine(), "--load-model needs --model-control-mode explicit "
                    + "(the other modes load every model)");
        }
        if (mode == ModelRepository.ControlMode.POLL && repositoryPollSeconds < 1) {
            throw new ParameterException(spec.commandLine(), "--repository-poll-seconds must be >= 1");
        }
        return mode;
    }

    private SharedMemoryAccess sharedMemoryAccess() {
        return new SharedMemoryAccess(allowSharedMemoryTcp, sharedMemoryUids == null
                ? Set.of(SharedMemoryAccess.serverUid()) : Set.copyOf(sharedMemoryUids));
    }
}
