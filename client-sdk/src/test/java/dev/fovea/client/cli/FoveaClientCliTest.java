package dev.fovea.client.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.client.InProcessFovea;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.StreamMode;
import dev.fovea.v1.StreamPredictRequest;
import io.grpc.Channel;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class FoveaClientCliTest {

    private InProcessFovea server;

    @TempDir
    Path folder;

    @BeforeEach
    void start() throws Exception {
        server = new InProcessFovea();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private record Run(int exitCode, String out, String err) {}

    private static Run run(Channel channel, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = FoveaClientCli.commandLine(new FoveaClientCli(channel));
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args);
        return new Run(exitCode, out.toString(), err.toString());
    }

    private Run run(String... args) {
        return run(server.channel, args);
    }

    private static void assertFinds(String regex, String text) {
        assertTrue(Pattern.compile(regex, Pattern.MULTILINE).matcher(text).find(),
                "/" + regex + "/ in:\n" + text);
    }

    private Path png(String name, int rgb) throws Exception {
        BufferedImage image = new BufferedImage(8, 6, BufferedImage.TYPE_INT_RGB);
        image.setRGB(2, 3, rgb);
        Path file = folder.resolve(name);
        ImageIO.write(image, "png", file.toFile());
        return file;
    }

    @Test
    void modelsListsEachModelsStatusDeviceAndLabelCount() {
        Run run = run("models");
        assertEquals(0, run.exitCode(), run.err());
        assertFinds("^shapes\\s+ready\\s+-\\s+cpu\\s+4\\s+\\[-1, 3, 64, 64\\]$", run.out());
        assertFinds("^broken\\s+failed\\s+-\\s+0\\s+-\\s+\\(model.pt is missing\\)$", run.out());
    }

    @Test
    void loadAndUnloadPrintTheModelsNewState() throws Exception {
        Path config = folder.resolve("config.json");
        Files.writeString(config, "{\"maxBatchSize\": 4}");
        Run load = run("load", "shapes", "--config-file", config.toString());
        assertEquals(0, load.exitCode(), load.err());
        assertFinds("^shapes: ready, version 2 \\(serving 2\\)$", load.out());
        assertEquals("{\"maxBatchSize\": 4}", server.service.loadRequests.poll(5, TimeUnit.SECONDS).getConfig());

        Run unload = run("unload", "shapes");
        assertEquals(0, unload.exitCode(), unload.err());
        assertFinds("^shapes: unavailable: unloaded$", unload.out());

        Run missing = run("load", "nope");
        assertTrue(missing.exitCode() != 0);
        assertTrue(missing.err().contains("NOT_FOUND"), missing.err());
    }

    @Test
    void classifyPrintsTopLabelsRoundTripAndServerTimingsPerFile() throws Exception {
        Path a = png("a.png", 0xFF0000);
        Path b = png("b.png", 0x00FF00);
        Run run = run("classify", "--model", "shapes", "--top-k", "2", a.toString(), b.toString());

        assertEquals(0, run.exitCode(), run.err());
        for (Path file : List.of(a, b)) {
            assertFinds("^" + Pattern.quote(file.toString()) + ": \\d+\\.\\d\\d ms round trip \\(server: queue 0\\.01,"
                    + " preprocess 0\\.20, inference 3\\.00, postprocess 0\\.0\\d ms; batch of 1\\)$", run.out());
            PredictRequest request = server.service.predictRequests.poll(5, TimeUnit.SECONDS);
            assertEquals(2, request.getTopK());
            assertArrayEquals(Files.readAllBytes(file), request.getImages(0).getEncoded().getData().toByteArray());
        }
        assertFinds("^  circle\\s+0\\.9000$", run.out());
        assertFinds("^  square\\s+0\\.0500$", run.out());
    }

    @Test
    void classifyReportsAFailingFileAndGoesOnWithTheOthers() throws Exception {
        Path good = png("good.png", 0);
        Run run = run("classify", "--model", "shapes", folder.resolve("absent.png").toString(), good.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains("absent.png: cannot read"), run.err());
        assertTrue(run.out().contains("good.png: "), run.out());

        Run unknown = run("classify", "--model", "missing", good.toString());
        assertEquals(1, unknown.exitCode());
        assertTrue(unknown.err().contains("NOT_FOUND: no model named \"missing\""), unknown.err());
    }

    @Test
    void streamSyntheticPrintsFramesAndASummaryWithAccuracy() throws Exception {
        Run run = run("stream", "--model", "shapes", "--synthetic", "--frames", "120", "--fps", "0",
                "--width", "64", "--height", "48");

        assertEquals(0, run.exitCode(), run.err());
        assertFinds("^frame 1: circle 0\\.900, \\d+\\.\\d ms \\(drawn: circle\\)$", run.out());
        assertFinds("^frames sent 120, results 120, skipped 0, errors 0 in \\d+\\.\\d\\d s: \\d+\\.\\d FPS$",
                run.out());
        assertFinds("^round trip ms \\(frame captured to result received, 110 results after 10 warm-up\\): "
                + "p50 \\d+\\.\\d\\d, p90 \\d+\\.\\d\\d, p99 \\d+\\.\\d\\d$", run.out());
        assertFinds("^in the server ms \\(queue \\+ preprocess \\+ inference \\+ postprocess\\): "
                + "p50 \\d+\\.\\d\\d, p90 \\d+\\.\\d\\d, p99 \\d+\\.\\d\\d$", run.out());
        // The fake always answers "circle", and a quarter of the frames show one.
        assertFinds("^accuracy 0\\.250 \\(30 of 120 results name the shape drawn\\)$", run.out());

        List<StreamPredictRequest> received = server.service.streams.poll(5, TimeUnit.SECONDS).received;
        assertEquals(121, received.size());
        assertEquals("shapes", received.getFirst().getOptions().getModel());
        assertEquals(1, received.getFirst().getOptions().getTopK());
        assertEquals(StreamMode.STREAM_MODE_EVERY_FRAME, received.getFirst().getOptions().getMode());
        for (int id = 1; id <= 120; id++) {
            assertEquals(id, received.get(id).getFrame().getFrameId());
        }
        RawPixels pixels = received.get(1).getFrame().getImage().getPixels();
        assertEquals(64, pixels.getWidth());
        assertEquals(48, pixels.getHeight());
        assertArrayEquals(new SyntheticScene(64, 48).render(0).rgb(), pixels.getData().toByteArray());
    }

    @Test
    void streamLatestOnlyCountsSkippedFrames() {
        Run run = run("stream", "--model", "shapes", "--synthetic", "--frames", "10", "--fps", "0",
                "--mode", "latest-only", "--width", "32", "--height", "32");
        assertEquals(0, run.exitCode(), run.err());
        assertFinds("^frames sent 10, results 5, skipped 5, errors 0 in ", run.out());
    }

    @Test
    void streamAFolderSendsItsFilesInNameOrderRepeatingThemToReachTheFrameCount() throws Exception {
        Path b = png("b.png", 0x0000FF);
        Path a = png("a.PNG", 0xFF0000);
        Files.writeString(folder.resolve("notes.txt"), "not an image");
        Run run = run("stream", "--model", "shapes", "--folder", folder.toString(), "--frames", "3", "--fps", "0");

        assertEquals(0, run.exitCode(), run.err());
        assertFinds("^frames sent 3, results 3, skipped 0, errors 0 in ", run.out());
        assertFalse(run.out().contains("accuracy"), "no truth, no accuracy");
        List<StreamPredictRequest> received = server.service.streams.poll(5, TimeUnit.SECONDS).received;
        List<Path> expected = List.of(a, b, a);
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(Files.readAllBytes(expected.get(i)),
                    received.get(i + 1).getFrame().getImage().getEncoded().getData().toByteArray());
        }
    }

    @Test
    void streamToAnUnknownModelFailsWithTheServersStatus() {
        Run run = run("stream", "--model", "missing", "--synthetic", "--frames", "5", "--fps", "0");
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains("NOT_FOUND: no model named \"missing\""), run.err());
    }

    @Test
    void badOptionsAreRejectedBeforeConnecting() {
        assertEquals(2, run("stream", "--model", "shapes", "--synthetic", "--fps", "-1").exitCode());
        assertEquals(2, run("stream", "--model", "shapes", "--synthetic", "--folder", "x").exitCode());
        assertEquals(2, run("stream", "--model", "shapes", "--synthetic", "--mode", "sometimes").exitCode());
        assertEquals(2, run("stream", "--model", "shapes", "--folder", folder.toString()).exitCode(), "empty folder");
    }

    @Test
    void streamRunsEndToEndOverTcpAtTheRequestedPace() throws Exception {
        Server tcp = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).addService(server.service)
                .build().start();
        try {
            long start = System.nanoTime();
            Run run = run((Channel) null, "--target", "localhost:" + tcp.getPort(), "stream", "--model", "shapes",
                    "--synthetic", "--frames", "30", "--fps", "200", "--width", "32", "--height", "32");
            double seconds = (System.nanoTime() - start) / 1e9;

            assertEquals(0, run.exitCode(), run.err());
            assertFinds("^frames sent 30, results 30, skipped 0, errors 0 in ", run.out());
            assertTrue(seconds >= 29 / 200.0, "30 frames at 200 fps take at least 0.145 s, not " + seconds);
        } finally {
            tcp.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
