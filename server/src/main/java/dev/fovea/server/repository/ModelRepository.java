package dev.fovea.server.repository;

import dev.fovea.server.inference.CpuCompute;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The models of a repository folder ({@code <repository>/<model>/}, in Fovea's layout or Triton's, see
 * {@link ModelFolder}) and their versions, as they load, serve, get replaced and unload while the server runs.
 *
 * <p>Lookups ({@link #find}, {@link #acquire}, {@link #describe}) read one immutable map that changes are published
 * into atomically: they never block and never see a half-made change. Changes (a load, an unload, a rescan) run one
 * at a time on the repository's own thread, never on a caller's event loop: a new version loads and warms up beside
 * the serving one, is published when ready, and only then is the one it replaces retired (see {@link ServedModel}:
 * in-flight requests finish on it, then its native memory is freed). A version that fails to load leaves whatever
 * served before serving; the failure is logged, counted ({@code fovea_model_load_failures_total}) and reported in
 * the model's status message.
 *
 * <p>The control mode ({@link ControlMode}) says who may change what: nobody after start ({@code NONE}), a rescan
 * of the folder ({@code POLL}, see {@link #rescan}), or load and unload requests ({@code EXPLICIT}).
 *
 * <p>Ownership: the repository owns every version's runner and native module; {@link #close()} drains and frees
 * them.
 */
public final class ModelRepository implements AutoCloseable {

    static final String MODEL_FILE = "model.pt";
    static final String DEFAULT_LABELS_FILE = "labels.txt";
    /** How long a retiring version waits for its callers and queued requests before it is freed regardless. */
    private static final long RETIRE_MILLIS = 30_000;

    /** Triton's model control modes. */
    public enum ControlMode {
        /** Every model loads at start; nothing changes after. */
        NONE,
        /** Every model loads at start; {@link #rescan} loads, reloads and unloads what changed on disk. */
        POLL,
        /** The models named at start load; load and unload requests change the rest. */
        EXPLICIT
    }

    /**
     * Server-wide defaults for what a model's config.pbtxt leaves unset, where runners report, and how many threads
     * run CPU models' native work (see {@link CpuCompute}).
     */
    public record Options(int queueCapacity, int computeThreads, ServerMetrics metrics) {
        public Options {
            if (queueCapacity < 1 || computeThreads < 1) {
                throw new IllegalArgumentException("queueCapacity and computeThreads must be >= 1");
            }
            Objects.requireNonNull(metrics, "metrics");
        }
    }

    private final Path root;
    private final Options options;
    private final ControlMode mode;
    private final CpuCompute compute;
    private final ModelStates states;
    /** Runs every change, one at a time. */
    private final ExecutorService changes;
    private final List<Consumer<ModelInfo>> listeners = new CopyOnWriteArrayList<>();

    private ModelRepository(Path root, Options options, ControlMode mode) {
        this.root = root;
        this.options = options;
        this.mode = mode;
        this.compute = new CpuCompute(options.computeThreads());
        this.states = new ModelStates(options.metrics());
        this.changes = Executors.newSingleThreadExecutor(task -> Thread.ofPlatform().name("fovea-model-control")
                .daemon().unstarted(task));
    }

    /** Loads and warms up every model folder under {@code root}, in name order, and changes nothing after. */
    public static ModelRepository open(Path root, Options options) throws IOException {
        return open(root, options, ControlMode.NONE, List.of("*"));
    }

    /**
     * Opens {@code root} in {@code mode}, loading and warming up the models named in {@code load} ({@code "*"} for
     * all; every model outside {@code EXPLICIT} mode) on the calling thread, in name order. A model that fails is
     * logged and reported, and the rest serve.
     *
     * @throws IllegalArgumentException if {@code load} names something that is not a model folder of {@code root}
     */
    public static ModelRepository open(Path root, Options options, ControlMode mode, Collection<String> load)
            throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException("model repository " + root + " is not a directory");
        }
        ModelRepository repository = new ModelRepository(root.toAbsolutePath().normalize(), options, mode);
        List<String> onDisk = repository.modelFolders();
        List<String> chosen = mode != ControlMode.EXPLICIT || load.contains("*") ? onDisk : List.copyOf(load);
        for (String name : chosen) {
            if (!onDisk.contains(name)) {
                throw new IllegalArgumentException("model " + name + " is not a model folder of " + root);
            }
        }
        for (String name : onDisk) {
            if (chosen.contains(name)) {
                try {
                    repository.loadNow(name, null, true);
                } catch (ModelControlException e) {
                    // Logged and reported as FAILED; the other models serve.
                }
            } else {
                repository.states.notLoaded(name);
            }
        }
        return repository;
    }

    public Path root() {
        return root;
    }

    /** The version of {@code name} new requests go to (the newest that serves), if one serves. */
    public Optional<ServedModel> find(String name) {
        return find(name, "");
    }

    /** Version {@code version} of {@code name} if it serves; {@code ""} for the newest that serves. */
    public Optional<ServedModel> find(String name, String version) {
        return states.find(name, version);
    }

    /**
     * Like {@link #find(String, String)}, with a use taken on the version: it is not retired until the caller
     * {@link ServedModel#release() releases} it, which it does once its request is with the runner (or will never be).
     */
    public Optional<ServedModel> acquire(String name, String version) {
        while (true) {
            Optional<ServedModel> model = find(name, version);
            if (model.isEmpty() || model.get().tryUse()) {
                return model;
            }
            // Retired between the lookup and the use: its successor is published already, so look again.
        }
    }

    /** Every model's description (serving, loading, failed or unloaded), sorted by name. */
    public List<ModelInfo> describeAll() {
        return states.describeAll();
    }

    /** The description of {@code name}, whatever its state. */
    public Optional<ModelInfo> describe(String name) {
        return states.describe(name);
    }

    /** Every model's versions and their states, as Triton's repository index reports them, sorted by name. */
    public List<IndexRow> index() {
        return states.index();
    }

    /** The version each serving model runs new requests on. */
    public List<ServedModel> servedModels() {
        return states.servedModels();
    }

    /** Tells {@code listener} (on the repository's thread) of each model whose description changed. */
    public void addListener(Consumer<ModelInfo> listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /**
     * Loads {@code name} (a folder directly under the repository), or reloads what changed of it, in
     * {@code EXPLICIT} mode; {@code configJson}, if not empty, replaces its config.pbtxt. The future completes with
     * its description once the new versions serve (the ones they replace are still being retired then), or fails with
     * a {@link ModelControlException}.
     */
    public CompletableFuture<ModelInfo> load(String name, String configJson) {
        return change(() -> {
            ModelFolder.Override override;
            try {
                override = ConfigOverrides.parse(root.resolve(name), configJson);
            } catch (IOException e) {
                throw new ModelControlException(ModelControlException.Reason.LOAD_FAILED, "model " + name
                        + ": the folder could not be read: " + e.getMessage());
            }
            return loadNow(name, override, true);
        }, name);
    }

    /**
     * Unloads {@code name} in {@code EXPLICIT} mode: new requests are refused at once, the ones it took run, then its
     * memory is freed; the future completes with its description once that is done.
     */
    public CompletableFuture<ModelInfo> unload(String name) {
        return change(() -> unloadNow(name), name);
    }

    private CompletableFuture<ModelInfo> change(Supplier<ModelInfo> change, String name) {
        if (mode != ControlMode.EXPLICIT) {
            return CompletableFuture.failedFuture(new ModelControlException(ModelControlException.Reason.NOT_ALLOWED,
                    "model control is off: the server runs with --model-control-mode " + mode.name().toLowerCase()
                            + (mode == ControlMode.POLL ? ", which loads what the repository folder holds"
                                    : ", which loads every model at start")
                            + "; start it with --model-control-mode explicit to load and unload on request"));
        }
        try {
            checkName(name);
        } catch (ModelControlException e) {
            return CompletableFuture.failedFuture(e);
        }
        try {
            return CompletableFuture.supplyAsync(change, changes);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new ModelControlException(ModelControlException.Reason.NOT_ALLOWED,
                    "the server is stopping"));
        }
    }

    /**
     * Compares the folder with what serves, in {@code POLL} mode: loads new models and versions, reloads changed
     * ones (a version whose model file changed, every version of a model whose config or labels changed), unloads
     * models and versions that are gone. A version that failed is tried again only once its files change. Runs on
     * the repository's thread; the future completes when the rescan is done.
     */
    public CompletableFuture<Void> rescan() {
        return CompletableFuture.runAsync(() -> {
            try {
                List<String> onDisk = modelFolders();
                for (String name : onDisk) {
                    try {
                        loadNow(name, null, false);
                    } catch (ModelControlException e) {
                        // Logged and reported by loadNow; the other models go on.
                    }
                }
                for (String name : states.names()) {
                    if (!onDisk.contains(name)) {
                        unloadNow(name);
                        states.forget(name);
                        notifyListeners(name);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, changes);
    }

    /** Loads (or refreshes) one model on the repository's thread (or the opening one, before anyone else can). */
    private ModelInfo loadNow(String name, ModelFolder.Override override, boolean retryFailed) {
        Path folder = root.resolve(name);
        if (!Files.isDirectory(folder)) {
            throw new ModelControlException(ModelControlException.Reason.NOT_FOUND, "model "
                    + name + " is not in the repository: no folder " + folder);
        }
        ModelStates.Outcome outcome = states.load(name, folder, override, retryFailed, compute,
                options.queueCapacity(), this::notifyListeners);
        retire(outcome.retired());
        if (outcome.failure() != null) {
            // A request's config that does not even read is the caller's mistake; files that do not load are not.
            throw new ModelControlException(outcome.folderUnreadable() && override != null
                    ? ModelControlException.Reason.INVALID : ModelControlException.Reason.LOAD_FAILED,
                    "model " + name + " failed to load: " + outcome.failure());
        }
        return describe(name).orElseThrow();
    }

    private ModelInfo unloadNow(String name) {
        if (states.describe(name).isEmpty() && !Files.isDirectory(root.resolve(name))) {
            throw new ModelControlException(ModelControlException.Reason.NOT_FOUND, "model " + name
                    + " is not in the repository");
        }
        retire(states.unloading(name));
        notifyListeners(name);
        states.unloaded(name);
        notifyListeners(name);
        return describe(name).orElseThrow();
    }

    private void retire(List<ServedModel> versions) {
        for (ServedModel version : versions) {
            try {
                version.retire(RETIRE_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                version.runner().close(0);
            }
        }
    }

    private void notifyListeners(String name) {
        ModelInfo info = describe(name).orElse(ModelInfo.newBuilder().setName(name)
                .setStatus(ModelStatus.MODEL_STATUS_UNAVAILABLE).build());
        listeners.forEach(listener -> listener.accept(info));
    }

    /**
     * Checks that a client's model name names a folder directly under the repository: not empty, not {@code .} or
     * {@code ..}, no path separator, no control character, at most 255 characters (a file name's limit).
     */
    private void checkName(String name) {
        boolean plain = !name.isEmpty() && name.length() <= 255 && !name.equals(".") && !name.equals("..")
                && name.chars().noneMatch(c -> c == '/' || c == '\\' || Character.isISOControl(c));
        if (!plain || !root.equals(root.resolve(name).normalize().getParent())) {
            throw new ModelControlException(ModelControlException.Reason.INVALID, "name "
                    + ClientText.quote(name) + " must name a folder directly under the model "
                    + "repository (no '/', '..' or control characters, at most 255 characters)");
        }
    }

    /** The names of the model folders under the root, sorted. */
    private List<String> modelFolders() throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> children = Files.list(root)) {
            for (Path folder : children.sorted().toList()) {
                if (ModelFolder.isModel(folder)) {
                    names.add(folder.getFileName().toString());
                }
            }
        }
        return names;
    }

    /** Waits for the change running now, then lets every model finish its queued requests and frees them. */
    @Override
    public void close() {
        changes.shutdown();
        try {
            changes.awaitTermination(RETIRE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        retire(states.closeAll());
        compute.close();
    }

    /**
     * The versions loaded now, across all models: each holds a native module. A version a change retires no longer
     * counts once that change is done (its memory is freed by then).
     */
    public int loadedVersions() {
        return states.loadedVersions();
    }
}
