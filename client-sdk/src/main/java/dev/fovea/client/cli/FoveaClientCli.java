package dev.fovea.client.cli;

import dev.fovea.client.FoveaClient;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The {@code fovea-client} command line: one subcommand per job, all talking to the server at {@code --target}. */
@Command(
        name = "fovea-client",
        mixinStandardHelpOptions = true,
        versionProvider = FoveaClientCli.Version.class,
        description = "Talks to a Fovea server: lists models, classifies image files, streams video frames.",
        subcommands = {ModelsCommand.class, LoadCommand.class, UnloadCommand.class, ClassifyCommand.class,
            StreamCommand.class,
            CommandLine.HelpCommand.class})
public final class FoveaClientCli {

    @Option(names = "--target", defaultValue = "localhost:8001",
            description = "The server, host:port or any gRPC target (default: ${DEFAULT-VALUE}).")
    private String target;

    @Mixin
    private ConnectionOptions connection;

    /** Set by tests, to talk to an in-process server instead of --target. */
    private final Channel channel;

    public FoveaClientCli() {
        this(null);
    }

    FoveaClientCli(Channel channel) {
        this.channel = channel;
    }

    public static void main(String[] args) {
        System.exit(commandLine(new FoveaClientCli()).execute(args));
    }

    /**
     * The command line with our error reporting: a failed call prints its status and an unreadable file its name,
     * not a stack trace.
     */
    static CommandLine commandLine(FoveaClientCli cli) {
        CommandLine commandLine = new CommandLine(cli);
        commandLine.setExecutionExceptionHandler((e, failed, parsed) -> {
            String problem;
            if (e instanceof StatusRuntimeException status) {
                problem = describe(status);
            } else if (e instanceof IOException io) {
                problem = "cannot read " + io.getMessage();
            } else if (e instanceof IllegalArgumentException bad) {
                problem = bad.getMessage();
            } else {
                throw e;
            }
            failed.getErr().println(failed.getCommandSpec().qualifiedName() + ": " + problem);
            failed.getErr().flush();
            return 1;
        });
        return commandLine;
    }

    static String describe(StatusRuntimeException e) {
        return describe(e.getStatus());
    }

    /** The status code, its description and, for transport failures such as a refused connection, the cause. */
    static String describe(Status status) {
        String description = status.getDescription();
        Throwable cause = status.getCause();
        return status.getCode() + (description == null ? "" : ": " + description)
                + (cause == null || cause.getMessage() == null ? "" : " (" + cause.getMessage() + ")");
    }

    /**
     * A client for the subcommand; the caller closes it.
     *
     * @throws IOException when a certificate, key or token file cannot be read
     */
    FoveaClient connect() throws IOException {
        return channel == null ? connection.configure(FoveaClient.forTarget(target)).build()
                : FoveaClient.using(channel).build();
    }

    static final class Version implements IVersionProvider {

        @Override
        public String[] getVersion() {
            String version = FoveaClientCli.class.getPackage().getImplementationVersion();
            return new String[] {
                "fovea-client " + (version == null ? "(development build)" : version), "JVM " + Runtime.version()
            };
        }
    }
}
