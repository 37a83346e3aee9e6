package dev.fovea.client.cli;

import dev.fovea.client.FoveaClient;
import dev.fovea.v1.ModelInfo;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code fovea-client unload}: unloads a model of a server in explicit model control mode. */
@Command(name = "unload", mixinStandardHelpOptions = true,
        description = "Unload a model: its queued requests run, its streams end, its memory is freed (the server "
                + "needs --model-control-mode explicit).")
final class UnloadCommand implements Callable<Integer> {

    @ParentCommand
    private FoveaClientCli cli;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model's name.")
    private String model;

    @Override
    public Integer call() throws IOException {
        ModelInfo info;
        try (FoveaClient client = cli.connect()) {
            info = client.unloadModel(model);
        }
        spec.commandLine().getOut().printf("%s: %s%n", info.getName(), ModelsCommand.describe(info));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
