package dev.fovea.client.cli;

import dev.fovea.client.FoveaClient;
import dev.fovea.v1.ModelInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code fovea-client models}: the server's models, one line each. */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = "List the server's models with their status, serving version, device and number of labels.")
final class ModelsCommand implements Callable<Integer> {

    @ParentCommand
    private FoveaClientCli cli;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        List<ModelInfo> models;
        try (FoveaClient client = cli.connect()) {
            models = client.listModels();
        }
        if (models.isEmpty()) {
            out.println("the server has no models");
        } else {
            out.printf("%-24s %-11s %-7s %-8s %6s  %s%n", "MODEL", "STATUS", "VERSION", "DEVICE", "LABELS", "INPUT");
        }
        for (ModelInfo model : models) {
            String status = model.getStatus().name().replace("MODEL_STATUS_", "").toLowerCase(Locale.ROOT);
            out.printf("%-24s %-11s %-7s %-8s %6d  %s%s%n", model.getName(), status,
                    model.getVersion().isEmpty() ? "-" : model.getVersion(), model.getDevice(),
                    model.getLabelsCount(), model.hasInput() ? model.getInput().getShapeList() : "-",
                    model.getStatusMessage().isEmpty() ? "" : "  (" + model.getStatusMessage() + ")");
        }
        out.flush();
        return 0;
    }

    /** A model's state in a few words, e.g. {@code ready, version 2 (serving 2, 1)} or {@code unavailable: unloaded}. */
    static String describe(ModelInfo model) {
        String status = model.getStatus().name().replace("MODEL_STATUS_", "").toLowerCase(Locale.ROOT);
        if (!model.getVersion().isEmpty()) {
            status += ", version " + model.getVersion() + " (serving " + String.join(", ", model.getVersionsList())
                    + ")";
        }
        return status + (model.getStatusMessage().isEmpty() ? "" : ": " + model.getStatusMessage());
    }
}
