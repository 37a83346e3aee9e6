package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code fovea predict} prints the class Python's torch picks for the same model and input. */
class PredictCommandTest {

    /** The fixtures native-bindings' tests use, written by its make_fixtures.py. */
    private static final Path FIXTURES = Path.of("../native-bindings/src/test/resources/fixtures");

    @Test
    void printsTheReferenceTopClass() throws IOException {
        int expectedTop = argmax(FIXTURES.resolve("tiny_cnn.output_b1.bin"));
        Result result = run("predict", "--model", FIXTURES.resolve("tiny_cnn.pt").toString(),
                "--input", FIXTURES.resolve("tiny_cnn.input_b1.bin").toString(), "--shape", "1,3,32,32",
                "--top-k", "1");
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.out().contains("row 0:  class " + expectedTop + " "), result.out());
    }

    @Test
    void namesTheProblemWhenTheInputDoesNotFitTheShape() {
        Result result = run("predict", "--model", FIXTURES.resolve("tiny_cnn.pt").toString(),
                "--input", FIXTURES.resolve("tiny_cnn.input_b1.bin").toString(), "--shape", "4,3,32,32");
        assertEquals(1, result.exitCode());
        assertTrue(result.err().contains("needs 49152"), result.err());
    }

    @Test
    void rejectsAnUnknownDevice() {
        Result result = run("predict", "--model", FIXTURES.resolve("tiny_cnn.pt").toString(),
                "--input", FIXTURES.resolve("tiny_cnn.input_b1.bin").toString(), "--shape", "1,3,32,32",
                "--device", "tpu");
        assertEquals(2, result.exitCode());
        assertTrue(result.err().contains("'tpu'"), result.err());
    }

    private static int argmax(Path floats) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(floats)).order(ByteOrder.LITTLE_ENDIAN);
        int best = 0;
        for (int i = 1; i < buffer.capacity() / 4; i++) {
            if (buffer.getFloat(i * 4) > buffer.getFloat(best * 4)) {
                best = i;
            }
        }
        return best;
    }

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
}
