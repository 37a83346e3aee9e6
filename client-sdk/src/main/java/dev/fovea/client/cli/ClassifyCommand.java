package dev.fovea.client.cli;

import dev.fovea.client.FoveaClient;
import dev.fovea.client.Images;
import dev.fovea.v1.Classification;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.Result;
import dev.fovea.v1.Timings;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code fovea-client classify}: sends each file as it is (the server decodes it) and prints the top classes, the
 * round trip measured here and the server's own timings. A file that fails is reported and the others go on.
 */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Classify JPEG or PNG files, one request per file.")
final class ClassifyCommand implements Callable<Integer> {

    @ParentCommand
    private FoveaClientCli cli;

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, description = "The model's name on the server.")
    private String model;

    @Option(names = "--top-k", defaultValue = "5", description = "Classes to print per file (default: ${DEFAULT-VALUE}).")
    private int topK;

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "JPEG or PNG files.")
    private List<Path> files;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (topK < 1) {
            err.println("fovea-client classify: --top-k must be at least 1");
            return 2;
        }
        int failures = 0;
        try (FoveaClient client = cli.connect()) {
            for (Path file : files) {
                try {
                    PredictRequest request = PredictRequest.newBuilder().setModel(model).setTopK(topK)
                            .addImages(Images.file(file)).build();
                    long start = System.nanoTime();
                    PredictResponse response = client.predict(request);
                    double millis = (System.nanoTime() - start) / 1e6;
                    print(out, file, response.getResults(0), millis);
                } catch (IOException e) {
                    failures++;
                    err.println("fovea-client classify: " + file + ": cannot read: " + e.getMessage());
                } catch (StatusRuntimeException e) {
                    failures++;
                    err.println("fovea-client classify: " + file + ": " + FoveaClientCli.describe(e));
                    if (e.getStatus().getCode() == Status.Code.UNAVAILABLE) {
                        break; // the next files would fail the same way
                    }
                }
                out.flush();
                err.flush();
            }
        }
        out.flush();
        err.flush();
        return failures == 0 ? 0 : 1;
    }

    private static void print(PrintWriter out, Path file, Result result, double millis) {
        Timings t = result.getTimings();
        out.printf("%s: %.2f ms round trip (server: queue %.2f, preprocess %.2f, inference %.2f, postprocess %.2f ms;"
                        + " batch of %d)%n", file, millis, t.getQueueUs() / 1e3, t.getPreprocessUs() / 1e3,
                t.getInferenceUs() / 1e3, t.getPostprocessUs() / 1e3, t.getBatchSize());
        for (Classification c : result.getClassesList()) {
            out.printf("  %-20s %.4f%n", label(c), c.getScore());
        }
    }

    static String label(Classification c) {
        return c.getLabel().isEmpty() ? "class " + c.getIndex() : c.getLabel();
    }
}
