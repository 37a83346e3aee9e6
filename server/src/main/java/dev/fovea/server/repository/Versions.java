package dev.fovea.server.repository;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A model's numbered versions (Triton's layout, and Fovea's: {@code <model>/<n>/model.pt}) and which of them serve,
 * as Triton's {@code version_policy} chooses: the newest N (default 1), all, or the listed ones. A Fovea model
 * without version folders ({@code <model>/model.pt}) has the one version {@value ServedModel#VERSION}.
 */
final class Versions {

    /** One version on disk: its number and its TorchScript file. */
    record Version(long number, Path modelFile) {
        String name() {
            return Long.toString(number);
        }
    }

    /** Which versions serve; {@code latest} > 0 for "the newest N", else {@code specific}, or all when null. */
    record Policy(int latest, Set<Long> specific) {
        static final Policy NEWEST = new Policy(1, Set.of());
        static final Policy ALL = new Policy(0, null);

        static Policy of(dev.fovea.oip.ModelVersionPolicy triton) {
            if (triton.hasAll()) {
                return ALL;
            }
            if (triton.hasSpecific()) {
                return new Policy(0, Set.copyOf(triton.getSpecific().getVersionsList()));
            }
            return new Policy(Math.max(1, triton.getLatest().getNumVersions()), Set.of());
        }

        static Policy of(dev.fovea.v1.VersionPolicy fovea) {
            return switch (fovea.getPolicyChoiceCase()) {
                case ALL -> ALL;
                case SPECIFIC -> new Policy(0, Set.copyOf(fovea.getSpecific().getVersionsList()));
                case LATEST -> new Policy(Math.max(1, fovea.getLatest().getNumVersions()), Set.of());
                case POLICYCHOICE_NOT_SET -> NEWEST;
            };
        }

        /** The versions this policy serves out of {@code available} (oldest first), newest first. */
        List<Version> choose(List<Version> available) {
            List<Version> newestFirst = available.reversed();
            if (latest > 0) {
                return newestFirst.subList(0, Math.min(latest, newestFirst.size()));
            }
            return specific == null ? newestFirst
                    : newestFirst.stream().filter(version -> specific.contains(version.number())).toList();
        }
    }

    private Versions() {}

    /**
     * The versions in {@code folder}, oldest first: every numbered sub-folder holding {@code fileName}, or, when
     * there is none and {@code plainAllowed}, {@code <folder>/<fileName>} as version 1.
     */
    static List<Version> onDisk(Path folder, String fileName, boolean plainAllowed) throws IOException {
        List<Version> numbered;
        try (Stream<Path> children = Files.list(folder)) {
            numbered = children.filter(Files::isDirectory)
                    .filter(child -> child.getFileName().toString().matches("[0-9]{1,18}"))
                    .filter(child -> Files.isRegularFile(child.resolve(fileName)))
                    .map(child -> new Version(Long.parseLong(child.getFileName().toString()),
                            child.resolve(fileName)))
                    .sorted(Comparator.comparingLong(Version::number))
                    .toList();
        }
        if (numbered.isEmpty() && plainAllowed && Files.isRegularFile(folder.resolve(fileName))) {
            return List.of(new Version(Long.parseLong(ServedModel.VERSION), folder.resolve(fileName)));
        }
        return numbered;
    }
}
