package dev.fovea.server.repository;

import dev.fovea.v1.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;

/**
 * One model folder of the repository, read but not loaded: its layout (Fovea's or Triton's), its configuration
 * (config.pbtxt, or a load request's override), labels, the versions its policy serves, and a fingerprint of each
 * file, so a rescan can tell what changed without loading anything.
 *
 * @param triton the Triton config as read, or null in Fovea's layout
 * @param config the Fovea settings the runner uses (Triton's translated), defaults filled in
 * @param serving the versions to serve, newest first
 * @param fingerprint of the config, the labels and the override: when it changes, every version reloads
 */
record ModelFolder(String name, Path folder, TritonConfigs.Read triton, ModelConfig config, List<String> labels,
        List<Versions.Version> serving, String fingerprint) {

    /** A load request's configuration, parsed, in place of config.pbtxt; {@code text} is what the client sent. */
    record Override(ModelConfig fovea, dev.fovea.oip.ModelConfig triton, String text) {}

    /** True for a folder holding a model: a Triton config, a model.pt or a numbered folder with one. */
    static boolean isModel(Path folder) throws IOException {
        return Files.isDirectory(folder)
                && (TritonConfigs.isTritonLayout(folder)
                        || !Versions.onDisk(folder, ModelRepository.MODEL_FILE, true).isEmpty());
    }

    static ModelFolder read(String name, Path folder, Override override) throws IOException {
        boolean tritonLayout = TritonConfigs.isTritonLayout(folder);
        if (override != null && tritonLayout != (override.triton() != null)) {
            throw new InvalidModelException("config: the model is in " + (tritonLayout ? "Triton's" : "Fovea's")
                    + " layout; send " + (tritonLayout ? "an inference.ModelConfig" : "a fovea.v1.ModelConfig"));
        }
        TritonConfigs.Read triton = tritonLayout ? TritonConfigs.read(folder, override == null ? null
                : override.triton()) : null;
        ModelConfig config = triton != null ? triton.fovea()
                : override != null ? ModelConfigs.withDefaults(override.fovea().toBuilder(),
                        folder.resolve(ModelConfigs.FILE_NAME))
                : ModelConfigs.read(folder);
        Versions.Policy policy = triton != null ? Versions.Policy.of(triton.triton().getVersionPolicy())
                : Versions.Policy.of(config.getVersionPolicy());
        String fileName = triton != null ? triton.modelFileName() : ModelRepository.MODEL_FILE;
        List<Versions.Version> onDisk = Versions.onDisk(folder, fileName, triton == null);
        if (onDisk.isEmpty()) {
            throw new InvalidModelException(folder + ": no " + fileName
                    + (triton != null ? " in a numbered version folder" : " and no numbered version folder with one"));
        }
        List<Versions.Version> serving = policy.choose(onDisk);
        if (serving.isEmpty()) {
            throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": version_policy serves none "
                    + "of the versions on disk (" + String.join(", ", onDisk.stream().map(Versions.Version::name)
                            .toList()) + ")");
        }
        Optional<Path> labelsFile = triton != null ? TritonConfigs.labelsFile(triton.triton(), folder)
                : Optional.of(folder.resolve(config.getLabelsFile().isEmpty() ? ModelRepository.DEFAULT_LABELS_FILE
                        : config.getLabelsFile()));
        List<String> labels = readLabels(labelsFile, triton == null && config.getLabelsFile().isEmpty(),
                triton != null ? "label_filename" : "labels_file", folder);
        String fingerprint = fingerprint(folder.resolve(ModelConfigs.FILE_NAME)) + "|"
                + labelsFile.map(ModelFolder::fingerprint).orElse("") + "|"
                + (override == null ? "" : Integer.toHexString(override.text().hashCode()));
        return new ModelFolder(name, folder, triton, config, labels, serving, fingerprint);
    }

    private static List<String> readLabels(Optional<Path> file, boolean optional, String field, Path folder)
            throws IOException {
        if (file.isEmpty()) {
            return List.of();
        }
        // A load request's config is a client's: it may only name a file of the model's own folder.
        if (!folder.equals(file.get().getParent()) || file.get().getFileName().toString().equals("..")) {
            throw new InvalidModelException(field + " '" + folder.relativize(file.get())
                    + "' must be a file name in the model's folder");
        }
        if (!Files.exists(file.get())) {
            if (optional) {
                return List.of();
            }
            throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": " + field + " "
                    + file.get() + " does not exist");
        }
        return Files.readAllLines(file.get()).stream().map(String::strip).filter(line -> !line.isEmpty()).toList();
    }

    /**
     * Size, modification time and file key (inode) of a file, or "-" when it does not exist: a copied, rewritten or
     * renamed-over file changes at least one of them.
     */
    static String fingerprint(Path file) {
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            return attributes.size() + "@" + attributes.lastModifiedTime().toMillis() + "#" + attributes.fileKey();
        } catch (IOException e) {
            return "-";
        }
    }
}
