package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code fovea serve --max-image-pixels --max-request-pixels}: defaults from the limits table, bad values refused. */
class ImageLimitOptionsTest {

    private record Result(int exitCode, String out, String err) {}

    private static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = new CommandLine(new Fovea());
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args);
        return new Result(exitCode, out.toString(), err.toString());
    }

    @Test
    void helpShowsTheDefaultsOfTheLimitsTable() {
        Result result = run("serve", "--help");
        assertEquals(0, result.exitCode());
        String help = result.out().replaceAll("\\s+", " ");
        assertTrue(help.contains("(default: 33177600, 8K UHD)"), help);
        assertTrue(help.contains("(default: 132710400, 64 frames of 1920x1080)"), help);
    }

    @Test
    void limitsOutOfRangeAreAUsageErrorBeforeAnythingLoads() {
        Result zero = run("serve", "--model-repository", "/nonexistent", "--max-image-pixels", "0");
        assertEquals(2, zero.exitCode());
        assertTrue(zero.err().contains("--max-image-pixels/--max-request-pixels: the per-image pixel limit must be "
                + "1..67108864, got 0"), zero.err());
        Result negative = run("serve", "--model-repository", "/nonexistent", "--max-request-pixels", "-1");
        assertEquals(2, negative.exitCode());
        assertTrue(negative.err().contains("the per-request pixel limit must be at least 1, got -1"), negative.err());
    }
}
