package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Streams, pinned memory, precision and out-of-memory on a CUDA device (cuda:0). Skipped without CUDA; run on the
 * GPU machine (scripts/gpu-check.sh).
 */
class CudaTest {

    private static final Device GPU = Device.cuda(0);
    private static final String INPUT = "tiny_cnn.input_b4.bin";

    @BeforeEach
    void needsCuda() {
        assumeTrue(TorchRuntime.cudaAvailable(), "no CUDA device");
    }

    @Test
    void streamsAreDeviceStreamsAndBuffersArePinned() {
        try (DeviceStream stream = DeviceStream.create(GPU); PinnedBuffer buffer = PinnedBuffer.allocate(4096)) {
            assertTrue(stream.isDevice());
            assertTrue(buffer.isPinned());
            stream.makeCurrent();
            stream.synchronize();
        }
    }

    @Test
    void asyncCopiesRoundTripThroughPinnedBuffersOnTheStream() {
        int count = 1 << 20;
        try (DeviceStream stream = DeviceStream.create(GPU);
                PinnedBuffer in = PinnedBuffer.allocate(4L * count);
                PinnedBuffer out = PinnedBuffer.allocate(4L * count);
                Tensor staged = in.view(0, DType.FLOAT32, count);
                Tensor result = out.view(0, DType.FLOAT32, count)) {
            stream.makeCurrent();
            for (int i = 0; i < count; i++) {
                in.segment().setAtIndex(JAVA_FLOAT, i, i);
            }
            try (Tensor onDevice = staged.toAsync(GPU)) {
                assertEquals(GPU, onDevice.device());
                onDevice.copyAsync(result);
            }
            stream.synchronize();
            for (int i = 0; i < count; i += 4099) {
                assertEquals(i, out.segment().getAtIndex(JAVA_FLOAT, i));
            }
        }
    }

    @Test
    void softmaxTopKOnTheDeviceMatchesTheCpu() {
        try (Arena arena = Arena.ofConfined();
                Tensor logits = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 0.5f, 3f, -1f, 2f, 7f, 1f), DType.FLOAT32,
                        2, 3);
                Tensor onDevice = logits.to(GPU);
                SoftmaxTopK cpu = SoftmaxTopK.of(logits, 2);
                SoftmaxTopK gpu = SoftmaxTopK.of(onDevice, 2);
                Tensor gpuScores = gpu.probabilities().to(Device.CPU);
                Tensor gpuClasses = gpu.indices().to(Device.CPU)) {
            assertArrayEquals(cpu.indices().data().toArray(JAVA_LONG), gpuClasses.data().toArray(JAVA_LONG));
            assertArrayEquals(cpu.probabilities().data().toArray(JAVA_FLOAT), gpuScores.data().toArray(JAVA_FLOAT),
                    1e-6f);
        }
    }

    @Test
    void float16AndChannelsLastConvolutionsGiveTheFloat32Result() {
        float[] expected = Fixtures.floats("tiny_cnn.output_b4.bin");
        try (Arena arena = Arena.ofConfined();
                DeviceStream stream = DeviceStream.create(GPU);
                TorchModule module = TorchModule.load(Fixtures.path("tiny_cnn.pt"), GPU);
                Tensor host = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT));
                Tensor input = host.to(GPU)) {
            stream.makeCurrent();
            module.convert(DType.FLOAT16, true);
            List<Tensor> outputs = module.forward(input);
            try (Tensor logits = outputs.getFirst();
                    PinnedBuffer buffer = PinnedBuffer.allocate(logits.elementCount() * 4);
                    Tensor asFloat = buffer.view(0, DType.FLOAT32, logits.shape())) {
                assertEquals(DType.FLOAT16, logits.dtype());
                logits.copyAsync(asFloat);
                stream.synchronize();
                float[] actual = asFloat.data().toArray(JAVA_FLOAT);
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], actual[i], 0.02 * Math.max(1, Math.abs(expected[i])), "element " + i);
                }
            }
        }
    }

    @Test
    void deviceOutOfMemoryIsOutOfMemoryAndTheModuleServesOn() {
        try (Arena arena = Arena.ofConfined();
                TorchModule module = TorchModule.load(Fixtures.path("allocates.pt"), GPU);
                Tensor huge = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 1 << 20, 1 << 20), DType.FLOAT32, 1, 2);
                Tensor small = Tensor.wrap(arena.allocateFrom(JAVA_FLOAT, 2, 3), DType.FLOAT32, 1, 2);
                Tensor hugeOnDevice = huge.to(GPU);
                Tensor smallOnDevice = small.to(GPU)) {
            // 2^40 floats: 4 TiB, more than any GPU has.
            NativeException e = assertThrows(NativeException.class, () -> module.forward(hugeOnDevice));
            assertEquals(NativeException.Kind.OUT_OF_MEMORY, e.kind(), e.getMessage());
            List<Tensor> outputs = module.forward(smallOnDevice);
            try {
                assertArrayEquals(new long[] {1, 2, 3}, outputs.getFirst().shape());
            } finally {
                outputs.forEach(Tensor::close);
            }
        }
    }
}
