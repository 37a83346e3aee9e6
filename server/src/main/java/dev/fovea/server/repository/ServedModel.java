package dev.fovea.server.repository;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.v1.ModelInfo;
import java.util.Objects;

/**
 * A model that loaded, warmed up and serves: what it takes and returns, its configuration, and the runner that
 * executes its requests. Owned by the {@link ModelRepository}, which closes the runner (and with it the native
 * module) on shutdown.
 *
 * @param spec what the model takes and returns, which requests are checked against and the APIs describe
 * @param info the fovea.v1 description
 * @param servingConfig the model's configuration as Triton's ModelConfig states it, which the Open Inference
 *     Protocol's ModelConfig returns: as written for a Triton-layout model, derived from its Fovea config otherwise
 */
public record ServedModel(ModelSpec spec, ModelInfo info, ModelRunner runner, dev.fovea.oip.ModelConfig servingConfig) {

    /** Every model serves one version. */
    public static final String VERSION = "1";

    public ServedModel {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(info, "info");
        Objects.requireNonNull(runner, "runner");
        Objects.requireNonNull(servingConfig, "servingConfig");
    }

    public String name() {
        return spec.name();
    }
}
