package dev.fovea.bench.load;

import dev.fovea.client.FoveaClient;
import dev.fovea.client.cli.ConnectionOptions;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.v1.ChannelOrder;
import dev.fovea.v1.Image;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.RawPixels;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code fovea-bench}: a load generator in the spirit of Triton's perf_analyzer. It sweeps concurrency for unary and
 * streaming calls against a running server, and measures in the same run the floor: the same model, image and
 * preprocessing in this process through the native layer, without gRPC, so the server's overhead prints as a ratio.
 * Prints a progress line while it runs, then a markdown table; writes JSON and a PNG chart of latency against
 * throughput on request.
 */
@Command(name = "fovea-bench", mixinStandardHelpOptions = true,
        description = "Measure a Fovea server's latency and throughput against the in-process floor.")
public final class FoveaBench implements Callable<Integer> {

    @Option(names = "--target", defaultValue = "localhost:8001", description = "Server address (default: ${DEFAULT-VALUE}).")
    private String target;

    @Mixin
    private ConnectionOptions connection;

    @Option(names = "--model", required = true, description = "Model name on the server.")
    private String model;

    @Option(names = "--model-file", description = "The model's TorchScript file, to measure the in-process floor.")
    private Path modelFile;

    @Option(names = "--width", defaultValue = "224", description = "Frame width in pixels (default: ${DEFAULT-VALUE}).")
    private int width;

    @Option(names = "--height", defaultValue = "224", description = "Frame height in pixels (default: ${DEFAULT-VALUE}).")
    private int height;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,2,4,8,16",
            description = "Concurrency levels to sweep (default: ${DEFAULT-VALUE}).")
    private int[] concurrency;

    @Option(names = "--modes", split = ",", defaultValue = "unary,stream",
            description = "unary, stream or both (default: ${DEFAULT-VALUE}).")
    private List<String> modes;

    @Option(names = "--seconds", defaultValue = "10", description = "Measured seconds per level (default: ${DEFAULT-VALUE}).")
    private int seconds;

    @Option(names = "--warm-up-seconds", defaultValue = "3", description = "Unmeasured seconds before each level (default: ${DEFAULT-VALUE}).")
    private int warmUpSeconds;

    @Option(names = "--threads", defaultValue = "2", description = "libtorch intra-op threads for the floor (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--floor-batches", split = ",", defaultValue = "1",
            description = "Batch sizes the floor runs; batch 1 is the latency floor, the best images/s of all of "
                    + "them the throughput floor (default: ${DEFAULT-VALUE}).")
    private int[] floorBatches;

    @Option(names = "--json", description = "Write the results as JSON to this file.")
    private Path json;

    @Option(names = "--chart", description = "Write a PNG chart of latency against throughput to this file.")
    private Path chart;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(new CommandLine(new FoveaBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        byte[] rgb = frame(width, height);
        Image image = Image.newBuilder().setPixels(RawPixels.newBuilder().setWidth(width).setHeight(height)
                .setFormat(dev.fovea.v1.PixelFormat.PIXEL_FORMAT_RGB)
                .setData(com.google.protobuf.ByteString.copyFrom(rgb))).build();
        Duration warmUp = Duration.ofSeconds(warmUpSeconds);
        Duration measured = Duration.ofSeconds(seconds);
        List<LevelResult> levels = new ArrayList<>();
        ModelInfo info;
        try (FoveaClient client = connection.configure(FoveaClient.forTarget(target))
                .maxInboundMessageSize(64 << 20).build()) {
            info = client.getModel(model);
            LoadRun load = new LoadRun(client, model, image, System.err);
            for (String mode : modes) {
                for (int level : concurrency) {
                    levels.add(mode.equals("stream") ? load.stream(level, warmUp, measured)
                            : load.unary(level, warmUp, measured));
                }
            }
        }
        List<LevelResult> floors = new ArrayList<>();
        if (modelFile != null) {
            for (int batch : floorBatches) {
                System.err.println("floor: " + modelFile + " in process, batch " + batch + ", " + threads
                        + " intra-op threads");
                floors.add(Floor.measure(modelFile, preprocessing(info), rgb, width, height, batch, threads, warmUp,
                        measured));
            }
            levels.addAll(floors);
        }
        out.printf(Locale.ROOT, "fovea-bench: model %s on %s (%s), %dx%d RGB frames, %d s per level%n%n", model,
                target, info.getDevice(), width, height, seconds);
        out.println("| mode | concurrency | requests | throughput /s | p50 ms | p90 ms | p99 ms | server queue / preprocess / inference / postprocess ms |");
        out.println("|---|---|---|---|---|---|---|---|");
        levels.forEach(level -> out.println(level.tableRow()));
        LevelResult latencyFloor = floors.stream().filter(f -> f.concurrency() == 1).findFirst().orElse(null);
        if (latencyFloor != null) {
            out.println();
            for (LevelResult level : levels) {
                if (level.concurrency() == 1 && !level.mode().equals("floor")) {
                    out.printf(Locale.ROOT, "%s batch-1 p50 end-to-end / floor: %.3f%n", level.mode(),
                            level.p50() / latencyFloor.p50());
                }
            }
        }
        if (!floors.isEmpty()) {
            LevelResult bestFloor = floors.stream().max(Comparator.comparingDouble(LevelResult::throughput))
                    .orElseThrow();
            for (LevelResult level : levels) {
                if (!level.mode().equals("floor")) {
                    out.printf(Locale.ROOT, "%s concurrency %d throughput / floor's best (batch %d, %.1f images/s): "
                            + "%.3f%n", level.mode(), level.concurrency(), bestFloor.concurrency(),
                            bestFloor.throughput(), level.throughput() / bestFloor.throughput());
                }
            }
        }
        if (json != null) {
            Files.writeString(json, "{\"model\":\"" + model + "\",\"device\":\"" + info.getDevice() + "\",\"width\":"
                    + width + ",\"height\":" + height + ",\"levels\":[" + levels.stream().map(LevelResult::json)
                            .collect(Collectors.joining(",")) + "]}\n");
        }
        if (chart != null) {
            Chart.write(chart, "fovea-bench: " + model + ", " + width + "x" + height + " frames", levels);
        }
        return 0;
    }

    /** The server's preprocessing for the model, from GetModel, so the floor does the same work. */
    static Preprocessing preprocessing(ModelInfo info) {
        var p = info.getConfig().getPreprocessing();
        float[] mean = new float[p.getMeanCount()];
        float[] std = new float[p.getStdCount()];
        for (int c = 0; c < mean.length; c++) {
            mean[c] = p.getMean(c);
            std[c] = p.getStd(c);
        }
        PixelFormat order = p.getChannelOrder() == ChannelOrder.CHANNEL_ORDER_BGR ? PixelFormat.BGR
                : p.getChannelOrder() == ChannelOrder.CHANNEL_ORDER_GRAY ? PixelFormat.GRAY : PixelFormat.RGB;
        return new Preprocessing(p.getResizeShorterSide(), p.getCropWidth(), p.getCropHeight(), mean, std, order);
    }

    /** A deterministic frame with structure (gradients and a block), so decoders and models see a picture. */
    static byte[] frame(int width, int height) {
        byte[] rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int i = (y * width + x) * 3;
                boolean block = x > width / 3 && x < 2 * width / 3 && y > height / 3 && y < 2 * height / 3;
                rgb[i] = (byte) (block ? 240 : x * 255 / width);
                rgb[i + 1] = (byte) (block ? 220 : 60);
                rgb[i + 2] = (byte) (block ? 20 : y * 255 / height);
            }
        }
        return rgb;
    }
}
