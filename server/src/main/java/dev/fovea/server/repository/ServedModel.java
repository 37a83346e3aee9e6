package dev.fovea.server.repository;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.v1.ModelInfo;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * One version of a model that loaded, warmed up and serves: what it takes and returns ({@link ModelSpec}), its
 * fovea.v1 description, its configuration as Triton states it, and the runner that executes its requests. Owned by the {@link ModelRepository}, which closes the runner (and with it the native
 * module) when the version is replaced, unloaded or the server stops.
 *
 * <p>Uses: a caller that looked a version up to run a request on it holds a use ({@link ModelRepository#acquire})
 * from the lookup until the request is with the runner, and then {@link #release()}s it. A version being retired is
 * first unpublished (new lookups find its successor or nothing), then waits for its uses to end, and only then closes
 * its runner, which runs every queued request before freeing the module: so no request that found this version is
 * ever refused for being late.
 */
public final class ServedModel {

    /** The version of a model without numbered version folders (a plain {@code <model>/model.pt}). */
    public static final String VERSION = "1";

    private final ModelSpec spec;
    private final ModelInfo info;
    private final ModelRunner runner;
    private final dev.fovea.oip.ModelConfig servingConfig;
    // Guarded by this.
    private int uses;
    private boolean retired;

    /**
     * @param spec what the model takes and returns, which requests are checked against and the APIs describe
     * @param info the fovea.v1 description (its {@code version} field names this version)
     * @param servingConfig the model's configuration as Triton's ModelConfig states it, which the Open Inference
     *     Protocol's ModelConfig returns: as written for a Triton-layout model, derived from its Fovea config otherwise
     */
    public ServedModel(ModelSpec spec, ModelInfo info, ModelRunner runner, dev.fovea.oip.ModelConfig servingConfig) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.info = Objects.requireNonNull(info, "info");
        this.runner = Objects.requireNonNull(runner, "runner");
        this.servingConfig = Objects.requireNonNull(servingConfig, "servingConfig");
    }

    public ModelSpec spec() {
        return spec;
    }

    public ModelInfo info() {
        return info;
    }

    public ModelRunner runner() {
        return runner;
    }

    public dev.fovea.oip.ModelConfig servingConfig() {
        return servingConfig;
    }

    public String name() {
        return spec.name();
    }

    /** This version's number, e.g. {@code "1"}. */
    public String version() {
        return info.getVersion();
    }

    /** Takes a use; false once the version is retired. */
    synchronized boolean tryUse() {
        if (retired) {
            return false;
        }
        uses++;
        return true;
    }

    /** Ends a use taken by {@link ModelRepository#acquire}: the caller's request is with the runner, or never will be. */
    public synchronized void release() {
        if (uses <= 0) {
            throw new IllegalStateException("model " + name() + " version " + version() + " released more often "
                    + "than acquired");
        }
        uses--;
        if (uses == 0) {
            notifyAll();
        }
    }

    /**
     * Refuses new uses, waits (at most {@code timeoutMillis}) for the open ones to end, then closes the runner, which
     * runs the queued requests and frees the module. Called by the repository after it unpublished this version.
     */
    void retire(long timeoutMillis) throws InterruptedException {
        synchronized (this) {
            retired = true;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            // A use lasts from a lookup to a submit on a gRPC thread: never long, so this wait is short.
            while (uses > 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    break;
                }
                wait(left);
            }
        }
        runner.close(timeoutMillis);
    }
}
