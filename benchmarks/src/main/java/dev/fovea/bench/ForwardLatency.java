package dev.fovea.bench;

import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Forward latency through the Java layer, the mirror of native/bench/forward_floor.cpp: same model, input (a float32
 * batch of 3 x SIZE x SIZE images filled with 0.5, SIZE 224 by default), thread count, warm-up and timing, so the two
 * medians compare directly.
 *
 * <pre>ForwardLatency MODEL BATCH THREADS WARMUP ITERATIONS [SIZE]</pre>
 *
 * Prints {@code median_ms=<x> p90_ms=<y>}.
 */
public final class ForwardLatency {

    private ForwardLatency() {}

    public static void main(String[] args) {
        if (args.length != 5 && args.length != 6) {
            System.err.println("usage: ForwardLatency MODEL BATCH THREADS WARMUP ITERATIONS [SIZE]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        int batch = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        int warmUp = Integer.parseInt(args[3]);
        int iterations = Integer.parseInt(args[4]);
        int size = args.length == 6 ? Integer.parseInt(args[5]) : 224;

        TorchRuntime.setIntraOpThreads(threads);
        double[] millis = new double[iterations];
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(model, Device.CPU)) {
            long elements = (long) batch * 3 * size * size;
            MemorySegment images = arena.allocate(ValueLayout.JAVA_FLOAT, elements);
            for (long i = 0; i < elements; i++) {
                images.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f);
            }
            try (Tensor input = Tensor.wrap(images, DType.FLOAT32, batch, 3, size, size)) {
                for (int i = 0; i < warmUp + iterations; i++) {
                    long start = System.nanoTime();
                    List<Tensor> outputs = module.forward(input);
                    outputs.forEach(Tensor::close);
                    long end = System.nanoTime();
                    if (i >= warmUp) {
                        millis[i - warmUp] = (end - start) / 1e6;
                    }
                }
            }
        }
        Arrays.sort(millis);
        System.out.printf(Locale.ROOT, "median_ms=%.4f p90_ms=%.4f%n",
                millis[iterations / 2], millis[iterations * 9 / 10]);
    }
}
