package dev.fovea.server.repository;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fovea.server.ModelFolders;
import dev.fovea.server.metrics.ServerMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code --model-control-mode poll}'s timer: it rescans by itself until closed. */
@Timeout(170)
class RepositoryPollerTest {

    @TempDir
    Path root;

    @Test
    void aNewVersionOnDiskServesWithoutAnyRequest() throws Exception {
        Path cnn = ModelFolders.versioned(root, "cnn", 1);
        try (ModelRepository repository = ModelRepository.open(root, new ModelRepository.Options(8, 1,
                        new ServerMetrics(new PrometheusRegistry())), ModelRepository.ControlMode.POLL, List.of());
                RepositoryPoller poller = RepositoryPoller.start(repository, 1)) {
            assertEquals("1", repository.find("cnn").orElseThrow().version());
            ModelFolders.addVersion(cnn, 2);
            while (!repository.find("cnn").orElseThrow().version().equals("2")) {
                Thread.sleep(20); // the class timeout guards a poller that never rescans
            }
            assertEquals(1, repository.loadedVersions());
        }
    }

    @Test
    void theIntervalMustBePositive() throws Exception {
        ModelFolders.versioned(root, "cnn", 1);
        try (ModelRepository repository = ModelRepository.open(root, new ModelRepository.Options(8, 1,
                new ServerMetrics(new PrometheusRegistry())), ModelRepository.ControlMode.POLL, List.of())) {
            assertThrows(IllegalArgumentException.class, () -> RepositoryPoller.start(repository, 0));
        }
    }
}
