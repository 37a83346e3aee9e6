package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code fovea serve --model-control-mode --load-model --repository-poll-seconds}: misuse is refused at once. */
class ModelControlOptionsTest {

    private static String refusal(String... args) {
        StringWriter err = new StringWriter();
        CommandLine commandLine = new CommandLine(new Fovea());
        commandLine.setOut(new PrintWriter(new StringWriter(), true));
        commandLine.setErr(new PrintWriter(err, true));
        assertEquals(2, commandLine.execute(args), err.toString());
        return err.toString();
    }

    @Test
    void anUnknownModeIsAUsageError() {
        String err = refusal("serve", "--model-repository", "/nonexistent", "--model-control-mode", "sometimes");
        assertTrue(err.contains("--model-control-mode: 'sometimes' is not one of none, poll, explicit"), err);
    }

    @Test
    void loadModelNeedsExplicitMode() {
        String err = refusal("serve", "--model-repository", "/nonexistent", "--load-model", "cnn");
        assertTrue(err.contains("--load-model needs --model-control-mode explicit"), err);
    }

    @Test
    void pollingNeedsAPositiveInterval() {
        String err = refusal("serve", "--model-repository", "/nonexistent", "--model-control-mode", "poll",
                "--repository-poll-seconds", "0");
        assertTrue(err.contains("--repository-poll-seconds must be >= 1"), err);
    }
}
