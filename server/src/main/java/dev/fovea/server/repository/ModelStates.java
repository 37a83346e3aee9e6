package dev.fovea.server.repository;

import dev.fovea.server.inference.CpuCompute;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.torch.NativeException;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The state of every model of the repository: an immutable map of immutable entries, replaced as a whole on each
 * change (copy on write), so lookups from any thread read one consistent state without locking. Changes are made by
 * one thread at a time (the repository's), which is what makes read-modify-publish safe.
 */
final class ModelStates {

    private static final Logger log = Logger.getLogger(ModelStates.class.getName());

    /** A model's state, Triton's names. */
    enum State { LOADING, READY, UNLOADING, UNAVAILABLE }

    /**
     * One model.
     *
     * @param serving the versions that serve, newest first
     * @param failed true when the last load left nothing serving because it failed (reported as FAILED)
     * @param reason what went wrong last, or why the model does not serve; empty when all is well
     * @param folder the folder as read at the last load or rescan; null before any read succeeded
     * @param prints each serving version's model file fingerprint, and each failed one's (so a rescan does not retry
     *     a broken file until it changes)
     * @param failedVersions versions that failed to load, with the reason
     */
    private record Entry(String name, State state, List<ServedModel> serving, boolean failed, String reason,
            ModelFolder folder, Map<String, String> prints, Map<String, String> failedVersions) {

        static Entry of(String name, State state, String reason) {
            return new Entry(name, state, List.of(), false, reason, null, Map.of(), Map.of());
        }

        Entry with(State state, String reason) {
            return new Entry(name, state, serving, failed, reason, folder, prints, failedVersions);
        }
    }

    private final ServerMetrics metrics;
    private volatile Map<String, Entry> entries = Map.of();

    ModelStates(ServerMetrics metrics) {
        this.metrics = metrics;
    }

    Optional<ServedModel> find(String name, String version) {
        Entry entry = entries.get(name);
        if (entry == null || entry.serving().isEmpty()) {
            return Optional.empty();
        }
        if (version.isEmpty()) {
            return Optional.of(entry.serving().getFirst());
        }
        return entry.serving().stream().filter(model -> model.version().equals(version)).findFirst();
    }

    List<String> names() {
        return List.copyOf(entries.keySet());
    }

    List<ServedModel> servedModels() {
        return entries.values().stream().filter(entry -> !entry.serving().isEmpty())
                .map(entry -> entry.serving().getFirst()).toList();
    }

    int loadedVersions() {
        return entries.values().stream().mapToInt(entry -> entry.serving().size()).sum();
    }

    Optional<ModelInfo> describe(String name) {
        return Optional.ofNullable(entries.get(name)).map(ModelStates::info);
    }

    List<ModelInfo> describeAll() {
        return entries.values().stream().map(ModelStates::info).toList();
    }

    private static ModelInfo info(Entry entry) {
        if (!entry.serving().isEmpty()) {
            ModelInfo newest = entry.serving().getFirst().info();
            String message = String.join("; ", List.of(entry.reason(), newest.getStatusMessage()).stream()
                    .filter(part -> !part.isEmpty()).toList());
            return newest.toBuilder().setStatusMessage(message).clearVersions()
                    .addAllVersions(entry.serving().stream().map(ServedModel::version).toList()).build();
        }
        ModelStatus status = switch (entry.state()) {
            case LOADING -> ModelStatus.MODEL_STATUS_LOADING;
            case UNLOADING -> ModelStatus.MODEL_STATUS_UNLOADING;
            case READY, UNAVAILABLE -> entry.failed() ? ModelStatus.MODEL_STATUS_FAILED
                    : ModelStatus.MODEL_STATUS_UNAVAILABLE;
        };
        return ModelInfo.newBuilder().setName(entry.name()).setStatus(status).setStatusMessage(entry.reason()).build();
    }

    List<IndexRow> index() {
        List<IndexRow> rows = new ArrayList<>();
        for (Entry entry : entries.values()) {
            for (ServedModel model : entry.serving()) {
                rows.add(new IndexRow(entry.name(), model.version(), "READY", ""));
            }
            entry.failedVersions().forEach((version, reason) -> rows.add(new IndexRow(entry.name(), version,
                    "UNAVAILABLE", reason)));
            if (entry.serving().isEmpty() && entry.failedVersions().isEmpty()) {
                rows.add(new IndexRow(entry.name(), "", entry.state().name(), entry.reason()));
            }
        }
        return rows;
    }

    /** Lists a model folder that is not loaded (explicit mode). */
    void notLoaded(String name) {
        publish(Entry.of(name, State.UNAVAILABLE, "not loaded"));
    }

    /**
     * What a load did: the versions it replaced or dropped, for the caller to retire once published, and why it
     * failed (null when it did not): {@code folderUnreadable} when the folder (or the request's config) could not be
     * read at all, so nothing was tried.
     */
    record Outcome(List<ServedModel> retired, String failure, boolean folderUnreadable) {
        static final Outcome UNCHANGED = new Outcome(List.of(), null, false);
    }

    /**
     * Loads what changed of {@code name}, publishes the result, and says what to retire. When a version fails, every
     * version that served goes on serving (also one the policy would drop for the failed one), so a broken update
     * never takes a model down. Nothing is published when nothing changed.
     */
    Outcome load(String name, Path folder, ModelFolder.Override override, boolean retryFailed,
            CpuCompute compute, int queueCapacity, Consumer<String> changed) {
        Entry old = entries.get(name);
        ModelFolder read;
        try {
            read = ModelFolder.read(name, folder, override);
        } catch (InvalidModelException | IOException | UncheckedIOException e) {
            String reason = String.valueOf(e.getMessage());
            boolean serves = old != null && !old.serving().isEmpty();
            String message = serves ? "the folder failed to read: " + reason + "; the loaded versions serve" : reason;
            if (old != null && !retryFailed && message.equals(old.reason())) {
                return Outcome.UNCHANGED; // the same broken folder as at the last rescan
            }
            failed(name, "model " + name, reason);
            publish(serves ? old.with(State.READY, message)
                    : new Entry(name, State.UNAVAILABLE, List.of(), true, message, null, Map.of(), Map.of()));
            changed.accept(name);
            return new Outcome(List.of(), message, true);
        }
        boolean sameConfig = old != null && old.folder() != null && old.folder().fingerprint().equals(read.fingerprint());
        Map<String, ServedModel> current = new HashMap<>();
        if (old != null) {
            old.serving().forEach(model -> current.put(model.version(), model));
        }
        List<ServedModel> serving = new ArrayList<>();
        Map<String, String> prints = new HashMap<>();
        Map<String, String> failures = new TreeMap<>();
        boolean loadedAny = false;
        for (Versions.Version version : read.serving()) {
            String print = ModelFolder.fingerprint(version.modelFile());
            ServedModel existing = current.get(version.name());
            String oldPrint = old == null ? null : old.prints().get(version.name());
            boolean knownBroken = old != null && old.failedVersions().containsKey(version.name());
            if (sameConfig && print.equals(oldPrint) && !(knownBroken && retryFailed)) {
                if (knownBroken) {
                    // Failed with these very files; a rescan waits for them to change (a load request retries).
                    failures.put(version.name(), old.failedVersions().get(version.name()));
                    prints.put(version.name(), print);
                }
                if (existing != null) {
                    serving.add(existing);
                    prints.put(version.name(), print);
                }
                if (knownBroken || existing != null) {
                    continue;
                }
            }
            if (existing == null && serving.isEmpty() && (old == null || old.serving().isEmpty())) {
                publish(Entry.of(name, State.LOADING, "loading version " + version.name()));
                changed.accept(name);
            }
            long start = System.nanoTime();
            try {
                ServedModel model = ModelLoader.load(read, version, compute, queueCapacity, metrics);
                serving.add(model);
                loadedAny = true;
                log.info(String.format(Locale.ROOT, "model %s version %s ready on %s (loaded and warmed up in "
                        + "%.0f ms)", name, version.name(), model.info().getDevice(), (System.nanoTime() - start) / 1e6));
            } catch (InvalidModelException | NativeException | IOException | UncheckedIOException e) {
                String reason = String.valueOf(e.getMessage());
                failed(name, "model " + name + " version " + version.name(), reason);
                failures.put(version.name(), reason);
                if (existing != null) {
                    serving.add(existing); // the version as it was keeps serving
                }
                // The attempt's fingerprint: a rescan retries only once the file changes again.
                prints.put(version.name(), print);
            }
        }
        if (!failures.isEmpty()) {
            current.values().stream().filter(model -> !serving.contains(model)).forEach(serving::add);
        }
        serving.sort(Comparator.comparingLong((ServedModel model) -> Long.parseLong(model.version())).reversed());
        List<ServedModel> retired = current.values().stream().filter(model -> !serving.contains(model)).toList();
        if (!loadedAny && retired.isEmpty() && old != null && old.state() == State.READY
                && failures.equals(old.failedVersions()) && sameConfig) {
            return Outcome.UNCHANGED;
        }
        String reason = failures.isEmpty() ? ""
                : String.join("; ", failures.entrySet().stream().map(failure -> "version " + failure.getKey()
                        + " failed to load: " + failure.getValue()).toList())
                        + (serving.isEmpty() ? "" : "; serving version " + String.join(", ",
                                serving.stream().map(ServedModel::version).toList()));
        publish(new Entry(name, serving.isEmpty() ? State.UNAVAILABLE : State.READY, List.copyOf(serving),
                serving.isEmpty(), reason, read, Map.copyOf(prints), Map.copyOf(failures)));
        changed.accept(name);
        return new Outcome(retired, failures.isEmpty() ? null : reason, false);
    }

    private void failed(String name, String what, String reason) {
        metrics.modelLoadFailed(name);
        log.warning(what + " failed to load: " + reason);
    }

    /** Unpublishes every version of {@code name} and returns them, for the caller to retire. */
    List<ServedModel> unloading(String name) {
        Entry old = entries.get(name);
        publish(Entry.of(name, State.UNLOADING, "unloading"));
        return old == null ? List.of() : old.serving();
    }

    void unloaded(String name) {
        publish(Entry.of(name, State.UNAVAILABLE, "unloaded"));
        log.info("model " + name + " unloaded");
    }

    void forget(String name) {
        Map<String, Entry> next = new TreeMap<>(entries);
        next.remove(name);
        entries = Collections.unmodifiableMap(next);
    }

    /** Unpublishes everything and returns every version, for the caller to retire. */
    List<ServedModel> closeAll() {
        List<ServedModel> all = entries.values().stream().flatMap(entry -> entry.serving().stream()).toList();
        entries = Map.of();
        return all;
    }

    private void publish(Entry entry) {
        Map<String, Entry> next = new TreeMap<>(entries);
        next.put(entry.name(), entry);
        entries = Collections.unmodifiableMap(next);
    }
}
