package dev.fovea.server.cli;

import dev.fovea.server.FoveaServer;
import dev.fovea.server.http.HttpServer;
import dev.fovea.server.inference.CpuCompute;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
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
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code fovea serve}: loads and warms up every model of a repository, then serves fovea.v1 over gRPC until SIGTERM
 * or SIGINT, when it stops accepting calls, finishes the running ones and frees native memory.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve the models of a model repository over gRPC and HTTP.")
final class ServeCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--model-repository", required = true,
            description = "Folder with one sub-folder per model: model.pt, config.pbtxt, labels.txt.")
    private Path modelRepository;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
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
            description = "Let clients register regions of /dev/shm and send frames by reference (off by default: "
                    + "only for clients on this host that you trust with the server's files there).")
    private boolean allowSharedMemory;

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

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads; 0 means one per core (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--compute-threads", defaultValue = "0",
            description = "Threads that run CPU models' batches, shared by all models; 0 means cores / --threads, "
                    + "so OpenMP threads never outnumber cores (default: ${DEFAULT-VALUE}).")
    private int computeThreads;

    @Option(names = "--call-threads", defaultValue = "8",
            description = "Threads for gRPC handlers, which validate and queue but never compute (default: ${DEFAULT-VALUE}).")
    private int callThreads;

    @Option(names = "--queue-capacity", defaultValue = "64",
            description = "Requests each model may hold waiting before new ones get RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE}).")
    private int queueCapacity;

    @Option(names = "--shutdown-grace-seconds", defaultValue = "30",
            description = "How long SIGTERM waits for running calls (default: ${DEFAULT-VALUE}).")
    private int graceSeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (port < 0 && uds == null) {
            throw new ParameterException(spec.commandLine(), "--port -1 turns TCP off; give --uds to listen somewhere");
        }
        TorchRuntime.setIntraOpThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
        out.printf("fovea: libtorch %s, %d intra-op threads, CUDA devices: %d%n", TorchRuntime.torchVersion(),
                TorchRuntime.intraOpThreads(), TorchRuntime.cudaDeviceCount());
        out.flush();
        UnixSocket socket = uds == null ? null : UnixSocket.open(uds, udsMode);
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository = ModelRepository.open(modelRepository,
                new ModelRepository.Options(queueCapacity, computeThreads > 0 ? computeThreads
                        : CpuCompute.defaultThreads(Runtime.getRuntime().availableProcessors(),
                                TorchRuntime.intraOpThreads()), metrics));
        List<NettyServerBuilder> listeners = new ArrayList<>();
        if (port >= 0) {
            listeners.add(NettyServerBuilder.forAddress(new InetSocketAddress(host, port)));
        }
        if (socket != null) {
            listeners.add(socket.serverBuilder());
        }
        FoveaServer.Builder builder = FoveaServer.builder(repository, metrics).callThreads(callThreads)
                .sharedMemory(allowSharedMemory ? SharedMemoryRegistry.enabled(SharedMemoryRegistry.SYSTEM_ROOT)
                        : SharedMemoryRegistry.disabled());
        listeners.forEach(listener -> builder.listener(listener.maxInboundMessageSize(maxMessageBytes)));
        FoveaServer server = builder.build().start();
        if (socket != null) {
            socket.restrictAccess();
        }
        HTTPServer metricsServer = metricsPort < 0 ? null : HTTPServer.builder().hostname(host).port(metricsPort)
                .registry(metrics.registry()).buildAndStart();
        // Event loops parse and route; they never compute, so a few serve any number of connections.
        HttpServer http = httpPort < 0 ? null : HttpServer.start(server.openInference(), host, httpPort,
                maxMessageBytes, Math.min(4, Runtime.getRuntime().availableProcessors()));
        if (http != null) {
            out.printf("fovea: HTTP on http://%s:%d%n", host, http.port());
        }
        if (metricsServer != null) {
            out.printf("fovea: metrics on http://%s:%d/metrics%n", host, metricsServer.getPort());
        }
        if (port >= 0) {
            out.printf("fovea: serving [%s] on %s:%d%n", server.servedModelNames(), host, server.port());
        }
        if (socket != null) {
            out.printf("fovea: serving [%s] on unix://%s%n", server.servedModelNames(), socket.path().toAbsolutePath());
        }
        out.flush();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("fovea-shutdown").unstarted(() -> {
            try {
                if (http != null) {
                    http.stopAccepting();
                }
                server.stop(graceSeconds * 1000L);
                if (http != null) {
                    http.close();
                }
                if (socket != null) {
                    socket.close();
                }
                if (metricsServer != null) {
                    metricsServer.close();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                System.err.println("fovea: stopped");
                stopped.countDown();
            }
        }));
        server.blockUntilShutdown();
        stopped.await();
        return 0;
    }
}
