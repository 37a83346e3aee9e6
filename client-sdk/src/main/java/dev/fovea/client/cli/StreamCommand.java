package dev.fovea.client.cli;

import com.google.protobuf.Timestamp;
import dev.fovea.client.FoveaClient;
import dev.fovea.client.FrameStream;
import dev.fovea.client.Images;
import dev.fovea.v1.Classification;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code fovea-client stream}: streams frames from a folder or the synthetic scene to one model and reports each
 * response as it arrives, then a summary. Latency is measured per frame from its capture (just before it is sent)
 * to its response, so it includes any wait for flow control.
 */
@Command(name = "stream", mixinStandardHelpOptions = true,
        description = "Stream frames to a model over StreamPredict; print results, latency, FPS (and accuracy for"
                + " the synthetic scene).")
final class StreamCommand implements Callable<Integer> {

    /** At most this many per-frame lines per second; the others are counted in the summary only. */
    private static final long LINE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** How long to wait for the last responses after the last frame went out. */
    private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(60);

    @ParentCommand
    private FoveaClientCli cli;

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, description = "The model's name on the server.")
    private String model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private SourceChoice source;

    static final class SourceChoice {
        @Option(names = "--folder", paramLabel = "DIR",
                description = "Send the JPEG and PNG files of DIR, sorted by name, as they are (encoded).")
        Path folder;

        @Option(names = "--synthetic",
                description = "Send a synthetic moving scene as raw RGB pixels: a bouncing shape, changing every"
                        + " 30 frames (circle, square, triangle, cross); also reports accuracy.")
        boolean synthetic;
    }

    @Option(names = "--frames", description = "Frames to send (default: 300 synthetic, or every file once; a folder"
            + " is repeated to reach N).")
    private Integer frames;

    @Option(names = "--warm-up", defaultValue = "10", paramLabel = "N",
            description = "Results left out of the latency lines: the first ones pay for the JIT and connection "
                    + "warm-up on both sides (default: ${DEFAULT-VALUE}).")
    private int warmUp;

    @Option(names = "--fps", defaultValue = "30",
            description = "Frames per second to send; 0 sends as fast as flow control allows (default: ${DEFAULT-VALUE}).")
    private double fps;

    @Option(names = "--width", defaultValue = "320", description = "Synthetic frame width (default: ${DEFAULT-VALUE}).")
    private int width;

    @Option(names = "--height", defaultValue = "240",
            description = "Synthetic frame height (default: ${DEFAULT-VALUE}).")
    private int height;

    @Option(names = "--mode", defaultValue = "every-frame", converter = ModeConverter.class,
            description = "every-frame: every frame runs, the sender waits for room; latest-only: live video, the"
                    + " server skips stale frames and, with --fps > 0, a frame the stream cannot take at once is"
                    + " dropped here (default: ${DEFAULT-VALUE}).")
    private StreamMode mode;

    @Option(names = "--top-k", defaultValue = "1", description = "Classes to request per frame (default: ${DEFAULT-VALUE}).")
    private int topK;

    /** A frame's image and, when known, the shape it shows. */
    private record Shot(Image image, String truth) {}

    private interface Source {
        Shot shot(long index) throws IOException;
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String problem = checkOptions();
        if (problem != null) {
            err.println("fovea-client stream: " + problem);
            err.flush();
            return 2;
        }
        Source frameSource;
        int count;
        if (source.synthetic) {
            SyntheticScene scene = new SyntheticScene(width, height);
            frameSource = index -> {
                SyntheticScene.Picture picture = scene.render(index);
                return new Shot(Images.pixels(picture.rgb(), width, height, 0, PixelFormat.PIXEL_FORMAT_RGB),
                        picture.label());
            };
            count = frames == null ? 300 : frames;
            out.printf("streaming %d synthetic %dx%d frames to %s (%s, %s)%n", count, width, height, model,
                    modeName(mode), pace());
        } else {
            List<Path> files = imageFiles(source.folder);
            if (files.isEmpty()) {
                err.println("fovea-client stream: no .jpg, .jpeg or .png files in " + source.folder);
                err.flush();
                return 2;
            }
            frameSource = index -> new Shot(Images.file(files.get((int) (index % files.size()))), null);
            count = frames == null ? files.size() : frames;
            out.printf("streaming %d frames from %d files in %s to %s (%s, %s)%n", count, files.size(),
                    source.folder, model, modeName(mode), pace());
        }
        out.flush();
        return run(frameSource, count, out, err);
    }

    private String checkOptions() {
        if (frames != null && frames < 1) {
            return "--frames must be at least 1";
        }
        if (!(fps >= 0) || Double.isInfinite(fps)) {
            return "--fps must be 0 or more";
        }
        if (topK < 1) {
            return "--top-k must be at least 1";
        }
        if (source.synthetic && (width < 16 || height < 16)) {
            return "--width and --height must be at least 16";
        }
        return null;
    }

    private int run(Source frameSource, int count, PrintWriter out, PrintWriter err)
            throws IOException, InterruptedException {
        if (warmUp < 0) {
            throw new ParameterException(spec.commandLine(), "--warm-up must be >= 0, got " + warmUp);
        }
        StreamStats stats = new StreamStats(warmUp);
        CompletableFuture<Status> closed = new CompletableFuture<>();
        StreamOptions options = StreamOptions.newBuilder().setModel(model).setTopK(topK).setMode(mode).build();
        boolean live = mode == StreamMode.STREAM_MODE_LATEST_ONLY && fps > 0;
        long period = fps == 0 ? 0 : Math.round(1e9 / fps);
        long elapsed;
        try (FoveaClient client = cli.connect()) {
            FrameStream stream = client.stream(options, new Printer(stats, out, closed));
            long start = System.nanoTime();
            long index = 0;
            try {
                for (; index < count; index++) {
                    if (period > 0) {
                        waitUntil(start + index * period);
                    }
                    Shot shot = frameSource.shot(index);
                    long frameId = index + 1;
                    Frame frame = Frame.newBuilder().setFrameId(frameId).setCaptureTime(now()).setImage(shot.image())
                            .build();
                    stats.sending(frameId, System.nanoTime(), shot.truth());
                    if (live) {
                        if (!stream.trySend(frame)) {
                            stats.notSent(frameId, true);
                        }
                    } else {
                        stream.send(frame);
                    }
                }
                stream.complete();
            } catch (StatusRuntimeException | IllegalStateException e) {
                // The server ended the stream early; the listener has or will soon have its status, reported below.
                stats.notSent(index + 1, false);
            } catch (IOException | InterruptedException e) {
                stream.cancel("the client stopped: " + e);
                throw e;
            }
            if (!stream.awaitTermination(DRAIN_TIMEOUT)) {
                stream.cancel("no end of stream " + DRAIN_TIMEOUT.toSeconds() + " s after the last frame");
                stream.awaitTermination(Duration.ofSeconds(5));
            }
            elapsed = System.nanoTime() - start;
        }
        out.print(stats.summary(elapsed));
        out.flush();
        Status status = closed.getNow(Status.UNKNOWN.withDescription("the stream did not end"));
        if (!status.isOk()) {
            err.println("fovea-client stream: " + FoveaClientCli.describe(status));
            err.flush();
            return 1;
        }
        return 0;
    }

    private static void waitUntil(long deadline) throws InterruptedException {
        for (long left = deadline - System.nanoTime(); left > 0; left = deadline - System.nanoTime()) {
            LockSupport.parkNanos(left);
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    private static Timestamp now() {
        Instant now = Instant.now();
        return Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build();
    }

    private static List<Path> imageFiles(Path folder) throws IOException {
        try (Stream<Path> entries = Files.list(folder)) {
            return entries.filter(path -> {
                String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
                return Files.isRegularFile(path)
                        && (name.endsWith(".jpg") || name.endsWith(".jpeg") || name.endsWith(".png"));
            }).sorted().toList();
        }
    }

    private String pace() {
        return fps == 0 ? "as fast as flow control allows" : BigDecimal.valueOf(fps).stripTrailingZeros().toPlainString() + " fps";
    }

    private static String modeName(StreamMode mode) {
        return mode == StreamMode.STREAM_MODE_LATEST_ONLY ? "latest-only" : "every-frame";
    }

    /**
     * Prints responses as they arrive, at most one line per {@link #LINE_INTERVAL_NANOS}, and a line whenever the
     * model version that answers changes (always printed: it marks a live update); counts them all.
     */
    private static final class Printer implements FrameStream.Listener {

        private final StreamStats stats;
        private final PrintWriter out;
        private final CompletableFuture<Status> closed;
        /** Touched only by listener calls, which gRPC runs one after another. */
        private long lastLine = Long.MIN_VALUE;
        /** The model version of the last response that named one; null before the first. Listener calls only. */
        private String version;

        Printer(StreamStats stats, PrintWriter out, CompletableFuture<Status> closed) {
            this.stats = stats;
            this.out = out;
            this.closed = closed;
        }

        @Override
        public void onResponse(StreamPredictResponse response) {
            long now = System.nanoTime();
            StreamStats.Sent sent = stats.received(response, now);
            String answeredBy = response.getModelVersion();
            if (!answeredBy.isEmpty() && !answeredBy.equals(version)) {
                if (version == null) {
                    out.printf("frame %d: served by model version %s%n", response.getFrameId(), answeredBy);
                } else {
                    out.printf("frame %d: now served by model version %s (was %s)%n", response.getFrameId(),
                            answeredBy, version);
                }
                out.flush();
                version = answeredBy;
            }
            if (lastLine != Long.MIN_VALUE && now - lastLine < LINE_INTERVAL_NANOS) {
                return;
            }
            lastLine = now;
            String latency = sent == null ? "" : String.format(Locale.ROOT, ", %.1f ms",
                    (now - sent.capturedNanos()) / 1e6);
            String drawn = sent == null || sent.truth() == null ? "" : " (drawn: " + sent.truth() + ")";
            switch (response.getOutcomeCase()) {
                case RESULT -> {
                    List<Classification> classes = response.getResult().getClassesList();
                    String top = classes.isEmpty() ? "no classes"
                            : String.format(Locale.ROOT, "%s %.3f", ClassifyCommand.label(classes.getFirst()),
                                    classes.getFirst().getScore());
                    out.printf("frame %d: %s%s%s%n", response.getFrameId(), top, latency, drawn);
                }
                case SKIPPED -> out.printf("frame %d: skipped, superseded by frame %d%n", response.getFrameId(),
                        response.getSkipped().getSupersededBy());
                case ERROR -> out.printf("frame %d: error %s: %s%n", response.getFrameId(),
                        Status.fromCodeValue(response.getError().getCode()).getCode(),
                        response.getError().getMessage());
                case OUTCOME_NOT_SET -> out.printf("frame %d: response without an outcome%n", response.getFrameId());
            }
            out.flush();
        }

        @Override
        public void onClose(Status status) {
            closed.complete(status);
        }
    }

    static final class ModeConverter implements ITypeConverter<StreamMode> {

        @Override
        public StreamMode convert(String value) {
            return switch (value) {
                case "every-frame" -> StreamMode.STREAM_MODE_EVERY_FRAME;
                case "latest-only" -> StreamMode.STREAM_MODE_LATEST_ONLY;
                default -> throw new IllegalArgumentException("expected every-frame or latest-only, not " + value);
            };
        }
    }
}
