package dev.fovea.client.cli;

import dev.fovea.client.FoveaClient;
import dev.fovea.v1.ModelInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code fovea-client load}: loads (or reloads) a model of a server in explicit model control mode. */
@Command(name = "load", mixinStandardHelpOptions = true,
        description = "Load a model of the server's repository, or reload what changed of it; prints the version "
                + "that serves once it does (the server needs --model-control-mode explicit).")
final class LoadCommand implements Callable<Integer> {

    @ParentCommand
    private FoveaClientCli cli;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model's folder name in the repository.")
    private String model;

    @Option(names = "--config", paramLabel = "JSON",
            description = "A configuration replacing the model's config.pbtxt for this load: JSON of its layout's "
                    + "config message (fovea.v1.ModelConfig, or inference.ModelConfig for Triton's layout).")
    private String config;

    @Option(names = "--config-file", paramLabel = "FILE", description = "The same, read from a file.")
    private Path configFile;

    @Override
    public Integer call() throws IOException {
        if (config != null && configFile != null) {
            throw new ParameterException(spec.commandLine(), "give --config or --config-file, not both");
        }
        String json = configFile != null ? Files.readString(configFile) : config == null ? "" : config;
        ModelInfo info;
        try (FoveaClient client = cli.connect()) {
            info = client.loadModel(model, json);
        }
        spec.commandLine().getOut().printf("%s: %s%n", info.getName(), ModelsCommand.describe(info));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
