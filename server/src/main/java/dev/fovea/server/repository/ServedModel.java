package dev.fovea.server.repository;

import dev.fovea.server.inference.ModelRunner;
import dev.fovea.v1.ModelInfo;
import java.util.Objects;

/**
 * A model that loaded, warmed up and serves: its description and the runner that executes its requests. Owned by
 * the {@link ModelRepository}, which closes the runner (and with it the native module) on shutdown.
 */
public record ServedModel(ModelInfo info, ModelRunner runner) {

    public ServedModel {
        Objects.requireNonNull(info, "info");
        Objects.requireNonNull(runner, "runner");
    }

    public String name() {
        return info.getName();
    }
}
