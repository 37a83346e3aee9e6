package dev.fovea.bench.load;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.List;

/**
 * The floor the server is measured against: the same model, image and preprocessing run in this process through the
 * native layer, no gRPC, one caller, the same intra-op thread count; at batch 1 for latency, and at larger batches for
 * the most images per second the model gives on this machine.
 */
final class Floor {

    private Floor() {}

    /**
     * Runs batches of {@code batch} copies of the frame. The result's concurrency is the batch size and its requests
     * count images, so its throughput is images per second.
     */
    static LevelResult measure(Path modelFile, Preprocessing preprocessing, byte[] rgb, int width, int height,
            int batch, int threads, Duration warmUp, Duration measured) {
        TorchRuntime.setIntraOpThreads(threads);
        Latencies latencies = new Latencies();
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(modelFile, Device.CPU)) {
            MemorySegment pixels = arena.allocate(rgb.length).copyFrom(MemorySegment.ofArray(rgb));
            List<ImageInput> images = Collections.nCopies(batch,
                    new ImageInput.Pixels(pixels, width, height, width * 3, PixelFormat.RGB));
            long warmUpEnd = System.nanoTime() + warmUp.toNanos();
            while (System.nanoTime() < warmUpEnd) {
                runOnce(module, images, preprocessing);
            }
            long start = System.nanoTime();
            long end = start + measured.toNanos();
            while (System.nanoTime() < end) {
                long callStart = System.nanoTime();
                runOnce(module, images, preprocessing);
                latencies.add(System.nanoTime() - callStart);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double nan = Double.NaN;
            return new LevelResult("floor", batch, latencies.count() * batch, seconds, latencies.percentileMillis(0.5),
                    latencies.percentileMillis(0.9), latencies.percentileMillis(0.99),
                    new double[] {nan, nan, nan, nan, nan});
        }
    }

    private static void runOnce(TorchModule module, List<ImageInput> images, Preprocessing preprocessing) {
        try (Tensor input = Preprocessor.toTensor(images, preprocessing, Device.CPU)) {
            module.forward(input).forEach(Tensor::close);
        }
    }
}
