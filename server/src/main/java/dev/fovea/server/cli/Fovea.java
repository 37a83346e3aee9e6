package dev.fovea.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fovea} command line: one subcommand per job. */
@Command(
        name = "fovea",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Fovea: a low-latency model server for TorchScript vision models.",
        subcommands = {ServeCommand.class, PredictCommand.class, CommandLine.HelpCommand.class})
public final class Fovea {

    public static void main(String[] args) {
        System.exit(new CommandLine(new Fovea()).execute(args));
    }
}
