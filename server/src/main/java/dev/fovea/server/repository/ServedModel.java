package dev.fovea.server.repository;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.ModelInfo;
import java.util.Objects;

/**
 * A model that loaded, warmed up and serves: its description in both APIs, and the runner that executes its
 * requests. Owned by the {@link ModelRepository}, which closes the runner (and with it the native module) on shutdown.
 *
 * @param info the fovea.v1 description
 * @param servingConfig the model as Triton's ModelConfig describes it, for the Open Inference Protocol: as written for
 *     a Triton-layout model, derived from its Fovea config otherwise
 * @param takesPictures true when the model preprocesses pictures (Fovea's layout); false when it takes tensors only
 */
public record ServedModel(ModelInfo info, ModelRunner runner, dev.fovea.oip.ModelConfig servingConfig,
        boolean takesPictures) {

    /** Every model serves one version. */
    public static final String VERSION = "1";

    public ServedModel {
        Objects.requireNonNull(info, "info");
        Objects.requireNonNull(runner, "runner");
        Objects.requireNonNull(servingConfig, "servingConfig");
    }

    public String name() {
        return info.getName();
    }
}
