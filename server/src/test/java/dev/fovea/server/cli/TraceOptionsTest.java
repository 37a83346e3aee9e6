package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code fovea serve --trace-config}: listed in the help, bad values refused before anything loads. */
class TraceOptionsTest {

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
    void helpListsTheTraceSettingsAndTheirDefaults() {
        Result result = run("serve", "--help");
        assertEquals(0, result.exitCode());
        String help = result.out().replaceAll("\\s+", " ");
        assertTrue(help.contains("--trace-config=[MODE,]SETTING=VALUE"), help);
        assertTrue(help.contains("(default: level=OFF, rate=1000, count=-1)"), help);
    }

    @Test
    void aBadTraceConfigIsAUsageErrorNamingIt() {
        Result tensors = run("serve", "--model-repository", "/nonexistent", "--trace-config", "level=TIMESTAMPS",
                "--trace-config", "level=TENSORS");
        assertEquals(2, tensors.exitCode());
        assertTrue(tensors.err().contains("--trace-config level=TENSORS: level TENSORS is not supported"),
                tensors.err());
        Result url = run("serve", "--model-repository", "/nonexistent", "--trace-config",
                "opentelemetry,url=collector:4318");
        assertEquals(2, url.exitCode());
        assertTrue(url.err().contains("--trace-config opentelemetry,url=collector:4318: the url must be http:// or "
                + "https:// with a host"), url.err());
    }
}
