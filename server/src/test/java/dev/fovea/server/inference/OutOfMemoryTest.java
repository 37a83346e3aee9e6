package dev.fovea.server.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PinnedBuffer;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.TorchModule;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Memory that runs out while a batch runs fails that batch's requests with OUT_OF_MEMORY naming the model and the
 * batch, and the model goes on serving. The failure is a real one from the native layer: an allocation no machine
 * can satisfy, which libtorch reports as out of memory (on a GPU the same status comes from CUDA's allocator).
 */
@Timeout(120)
class OutOfMemoryTest {

    @Test
    void outOfMemoryFailsTheBatchNamingModelAndBatchAndTheModelServesOn() throws Exception {
        AtomicBoolean exhaust = new AtomicBoolean(true);
        Staging.Preprocess preprocess = (pictures, spec, device) -> {
            if (exhaust.getAndSet(false)) {
                PinnedBuffer.allocate(Long.MAX_VALUE / 2).close();
            }
            return Preprocessor.toTensor(pictures, spec, device);
        };
        try (CpuCompute compute = new CpuCompute(1);
                ModelRunner runner = new ModelRunner(
                        TorchModule.load(TestServer.repositoryPath().resolve("raw/model.pt"), Device.CPU),
                        new ModelRunner.Settings("raw", Device.CPU,
                                new Preprocessing(0, 4, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY),
                                false, List.of(), 0, 4, 4, 1, Batching.OFF),
                        compute, ModelRunner.Observer.NONE, preprocess, TorchModule::forward)) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> runner.submit(picture()).get(30, TimeUnit.SECONDS));
            InferenceException failure = (InferenceException) e.getCause();
            assertEquals(InferenceException.Reason.OUT_OF_MEMORY, failure.reason());
            assertTrue(failure.getMessage().startsWith("model raw ran out of memory on a batch of 1 image (1 request)"),
                    failure.getMessage());

            try (Predictions predictions = runner.submit(picture()).get(30, TimeUnit.SECONDS)) {
                assertEquals(1, predictions.size());
            }
        }
    }

    private static InferenceRequest picture() {
        Arena memory = Arena.ofShared();
        MemorySegment pixels = memory.allocate(4);
        return new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Pixels(pixels, 4, 1, 4,
                PixelFormat.GRAY))), 1, true, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
    }
}
