package dev.fovea.server.repository;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.fovea.server.ModelFolders;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.v1.ModelInfo;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The swap's ordering: publish the new version, then retire the old one only once nobody can still submit to it. */
@Timeout(170)
class ModelRepositoryTest {

    @TempDir
    Path root;

    private static InferenceRequest picture() {
        Arena memory = Arena.ofShared();
        MemorySegment pixels = memory.allocate(32 * 32 * 3);
        pixels.fill((byte) 77);
        return new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Pixels(pixels, 32, 32, 96,
                PixelFormat.RGB))), 1, false, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
    }

    @Test
    void aReplacedVersionStaysOpenWhileAUseTakenBeforeTheSwapIsOpen() throws Exception {
        Path cnn = ModelFolders.versioned(root, "cnn", 1);
        try (ModelRepository repository = ModelRepository.open(root, new ModelRepository.Options(8, 1,
                new ServerMetrics(new PrometheusRegistry())), ModelRepository.ControlMode.EXPLICIT, List.of("cnn"))) {
            ServedModel first = repository.acquire("cnn", "").orElseThrow();
            ModelFolders.addVersion(cnn, 2);
            CompletableFuture<ModelInfo> swap = repository.load("cnn", "");
            while (!repository.find("cnn").orElseThrow().version().equals("2")) {
                Thread.sleep(5); // until version 2 is published
            }
            assertFalse(swap.isDone(), "version 1 is not retired while a use taken before the swap is open");
            // The caller that looked version 1 up before the swap submits now, after it: the request still runs.
            try (Predictions predictions = first.runner().submit(picture()).get(60, TimeUnit.SECONDS)) {
                assertEquals(1, predictions.size());
            }
            first.release();
            assertEquals("2", swap.get(60, TimeUnit.SECONDS).getVersion());
            assertEquals(1, repository.loadedVersions());
            assertEquals(List.of("2"), repository.describe("cnn").orElseThrow().getVersionsList());
        }
    }
}
