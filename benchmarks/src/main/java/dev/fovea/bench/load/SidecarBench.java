package dev.fovea.bench.load;

import com.google.protobuf.ByteString;
import dev.fovea.client.FoveaClient;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryUnregisterRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.SharedMemoryRef;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code SidecarBench}: batch-1 latency of one model for the ways a sidecar's client can reach the server, side by
 * side in one run: TCP or Unix socket, frame bytes inline in the request or written to a registered /dev/shm region
 * and sent by reference. One caller, requests back to back, raw RGB frames of each size; the rounds alternate the
 * variants so drift on a shared machine hits all of them.
 */
@Command(name = "sidecar-bench", mixinStandardHelpOptions = true,
        description = "Batch-1 latency over TCP vs a Unix socket, inline frames vs shared memory.")
public final class SidecarBench implements Callable<Integer> {

    @Option(names = "--tcp", required = true, description = "The server's TCP address, host:port.")
    private String tcp;

    @Option(names = "--uds", required = true, description = "The server's socket, unix:///path.")
    private String uds;

    @Option(names = "--model", required = true, description = "Model name on the server.")
    private String model;

    @Option(names = "--sizes", split = ",", defaultValue = "224x224,1920x1080",
            description = "Frame sizes, WIDTHxHEIGHT (default: ${DEFAULT-VALUE}).")
    private List<String> sizes;

    @Option(names = "--requests", defaultValue = "200", description = "Measured requests per variant and round (default: ${DEFAULT-VALUE}).")
    private int requests;

    @Option(names = "--rounds", defaultValue = "3", description = "Rounds (default: ${DEFAULT-VALUE}).")
    private int rounds;

    @Option(names = "--warm-up", defaultValue = "300", description = "Unmeasured requests per variant first (default: ${DEFAULT-VALUE}).")
    private int warmUp;

    @Option(names = "--shm-dir", defaultValue = "/dev/shm", description = "Where the server maps regions from (default: ${DEFAULT-VALUE}).")
    private Path shmDir;

    public static void main(String[] args) {
        System.exit(new CommandLine(new SidecarBench()).execute(args));
    }

    private record Variant(String transport, boolean shared, FoveaClient client) {
        String label() {
            return transport + (shared ? ", shared memory" : ", inline bytes");
        }
    }

    @Override
    public Integer call() throws Exception {
        System.out.printf(Locale.ROOT, "sidecar-bench: model %s, %d rounds x %d requests per variant, one caller%n%n",
                model, rounds, requests);
        System.out.println("| frame | transport, frame bytes | p50 ms | p90 ms | p99 ms |");
        System.out.println("|---|---|---|---|---|");
        try (FoveaClient overTcp = FoveaClient.forTarget(tcp).maxInboundMessageSize(64 << 20).build();
                FoveaClient overUds = FoveaClient.forTarget(uds).maxInboundMessageSize(64 << 20).build()) {
            for (String size : sizes) {
                String[] sides = size.split("x");
                int width = Integer.parseInt(sides[0]);
                int height = Integer.parseInt(sides[1]);
                byte[] rgb = FoveaBench.frame(width, height);
                String region = "sidecar_bench_" + width + "x" + height;
                Path file = Files.write(shmDir.resolve(region), rgb);
                ManagedChannel control = Grpc.newChannelBuilder(uds, InsecureChannelCredentials.create()).build();
                var oip = GRPCInferenceServiceGrpc.newBlockingStub(control);
                oip.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName(region)
                        .setKey("/" + region).setByteSize(rgb.length).build());
                try {
                    RawPixels.Builder pixels = RawPixels.newBuilder().setWidth(width).setHeight(height)
                            .setFormat(PixelFormat.PIXEL_FORMAT_RGB);
                    PredictRequest inline = request(pixels.clone().setData(ByteString.copyFrom(rgb)));
                    PredictRequest shared = request(pixels.clone().setSharedMemory(SharedMemoryRef.newBuilder()
                            .setRegion(region).setByteSize(rgb.length)));
                    List<Variant> variants = List.of(new Variant("TCP", false, overTcp),
                            new Variant("TCP", true, overTcp), new Variant("Unix socket", false, overUds),
                            new Variant("Unix socket", true, overUds));
                    Latencies[] latencies = new Latencies[variants.size()];
                    for (int v = 0; v < variants.size(); v++) {
                        latencies[v] = new Latencies();
                        run(variants.get(v), variants.get(v).shared() ? shared : inline, warmUp, null);
                    }
                    for (int round = 0; round < rounds; round++) {
                        for (int v = 0; v < variants.size(); v++) {
                            Variant variant = variants.get(v);
                            run(variant, variant.shared() ? shared : inline, requests, latencies[v]);
                        }
                    }
                    for (int v = 0; v < variants.size(); v++) {
                        System.out.printf(Locale.ROOT, "| %dx%d | %s | %.2f | %.2f | %.2f |%n", width, height,
                                variants.get(v).label(), latencies[v].percentileMillis(0.5),
                                latencies[v].percentileMillis(0.9), latencies[v].percentileMillis(0.99));
                    }
                } finally {
                    oip.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
                            .setName(region).build());
                    control.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                    Files.delete(file);
                }
            }
        }
        return 0;
    }

    private PredictRequest request(RawPixels.Builder pixels) {
        return PredictRequest.newBuilder().setModel(model).setTopK(1).addImages(Image.newBuilder().setPixels(pixels))
                .build();
    }

    private static void run(Variant variant, PredictRequest request, int count, Latencies latencies) {
        for (int i = 0; i < count; i++) {
            long start = System.nanoTime();
            variant.client().predict(request);
            if (latencies != null) {
                latencies.add(System.nanoTime() - start);
            }
        }
    }
}
