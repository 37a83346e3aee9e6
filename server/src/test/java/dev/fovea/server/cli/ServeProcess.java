package dev.fovea.server.cli;

import dev.fovea.server.TestServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code fovea serve} process on the test repository, on a free loopback port, run from this build's classes
 * (the test class path) rather than {@code fovea.jar}, which Maven packages only after the tests. Its log goes to a
 * file; {@link #close} kills it if a test left it running.
 */
final class ServeProcess implements AutoCloseable {

    private static final Pattern SERVING = Pattern.compile("fovea: serving \\[.*] on 127\\.0\\.0\\.1:(\\d+)");

    private final Process process;
    private final Path log;
    private final int port;

    private ServeProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** Starts the server with {@code options} added to the command line; returns once it serves. */
    static ServeProcess start(String... options) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Fovea.class.getName(), "serve",
                "--model-repository", TestServer.repositoryPath().toString(), "--host", "127.0.0.1", "--port", "0",
                "--metrics-port", "-1", "--http-port", "-1", "--call-threads", "4"));
        command.addAll(List.of(options));
        Path log = Files.createTempFile("fovea-serve", ".log");
        Process process = new ProcessBuilder(command).redirectError(log.toFile()).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
        for (String line = out.readLine(); line != null; line = out.readLine()) {
            Matcher serving = SERVING.matcher(line);
            if (serving.find()) {
                // The server writes nothing more to stdout, so no one needs to keep reading it.
                return new ServeProcess(process, log, Integer.parseInt(serving.group(1)));
            }
        }
        throw new IllegalStateException("fovea serve exited before serving: " + Files.readString(log));
    }

    int port() {
        return port;
    }

    Process process() {
        return process;
    }

    /** What the server logged to stderr so far. */
    String log() throws IOException {
        return Files.readString(log);
    }

    @Override
    public void close() throws IOException {
        process.destroyForcibly();
        Files.deleteIfExists(log);
    }
}
