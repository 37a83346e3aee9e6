package dev.fovea.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes model folders for model control tests, from the test repository's tiny CNN. */
public final class ModelFolders {

    private ModelFolders() {}

    private static Path cnn() {
        return TestServer.repositoryPath().resolve("cnn");
    }

    /** {@code <repository>/<name>/} with the CNN's config.pbtxt and labels and, per version, {@code <n>/model.pt}. */
    public static Path versioned(Path repository, String name, int... versions) throws IOException {
        Path folder = Files.createDirectories(repository.resolve(name));
        Files.copy(cnn().resolve("config.pbtxt"), folder.resolve("config.pbtxt"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(cnn().resolve("labels.txt"), folder.resolve("labels.txt"), StandardCopyOption.REPLACE_EXISTING);
        for (int version : versions) {
            addVersion(folder, version);
        }
        return folder;
    }

    /** A plain {@code <repository>/<name>/model.pt} (version 1) with the CNN's config and labels. */
    public static Path plain(Path repository, String name) throws IOException {
        Path folder = versioned(repository, name);
        Files.copy(cnn().resolve("model.pt"), folder.resolve("model.pt"), StandardCopyOption.REPLACE_EXISTING);
        return folder;
    }

    public static void addVersion(Path folder, int version) throws IOException {
        Path target = Files.createDirectories(folder.resolve(Integer.toString(version))).resolve("model.pt");
        Files.copy(cnn().resolve("model.pt"), target, StandardCopyOption.REPLACE_EXISTING);
    }

    /** A version whose model.pt is not TorchScript: its load fails. */
    public static void addBrokenVersion(Path folder, int version) throws IOException {
        Files.writeString(Files.createDirectories(folder.resolve(Integer.toString(version))).resolve("model.pt"),
                "not a TorchScript archive");
    }
}
