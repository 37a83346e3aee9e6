package dev.fovea.bench;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchRuntime;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * JPEG to model input, the two candidate decoders side by side: libjpeg-turbo inside the native preprocessing call
 * (what Fovea uses) against javax.imageio decoding on the heap, then the same native preprocessing on the decoded
 * pixels. Both produce the same [1, 3, 224, 224] tensor (Resize 256, CenterCrop 224, ImageNet normalization).
 *
 * <pre>DecodeBenchmark JPEG_FILE [ITERATIONS]</pre>
 */
public final class DecodeBenchmark {

    private DecodeBenchmark() {}

    public static void main(String[] args) throws IOException {
        byte[] file = Files.readAllBytes(Path.of(args[0]));
        int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        TorchRuntime.setIntraOpThreads(2);
        Preprocessing spec = Preprocessing.imagenet(256, 224);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment encoded = arena.allocate(file.length).copyFrom(MemorySegment.ofArray(file));
            double turbo = median(iterations, () -> {
                try (Tensor ignored = Preprocessor.toTensor(List.of(new ImageInput.Encoded(encoded)), spec,
                        Device.CPU)) {
                    return;
                }
            });
            double imageIoDecode = median(iterations, () -> decodeWithImageIo(file));
            double imageIo = median(iterations, () -> {
                BufferedImage image = decodeWithImageIo(file);
                byte[] bgr = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
                try (Arena frame = Arena.ofConfined()) {
                    MemorySegment pixels = frame.allocate(bgr.length).copyFrom(MemorySegment.ofArray(bgr));
                    try (Tensor ignored = Preprocessor.toTensor(List.of(new ImageInput.Pixels(pixels,
                            image.getWidth(), image.getHeight(), image.getWidth() * 3, PixelFormat.BGR)), spec,
                            Device.CPU)) {
                        return;
                    }
                }
            });
            BufferedImage size = decodeWithImageIo(file);
            System.out.printf(Locale.ROOT, "%dx%d JPEG, %d bytes, median of %d after warm-up%n", size.getWidth(),
                    size.getHeight(), file.length, iterations);
            System.out.printf(Locale.ROOT, "libjpeg-turbo + native preprocessing: %.2f ms%n", turbo);
            System.out.printf(Locale.ROOT, "ImageIO decode alone:                 %.2f ms%n", imageIoDecode);
            System.out.printf(Locale.ROOT, "ImageIO + native preprocessing:       %.2f ms%n", imageIo);
        }
    }

    private static BufferedImage decodeWithImageIo(byte[] file) {
        try {
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(file));
            if (image.getType() != BufferedImage.TYPE_3BYTE_BGR) {
                throw new IllegalStateException("expected a 3-byte BGR JPEG, got type " + image.getType());
            }
            return image;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double median(int iterations, Runnable work) {
        for (int i = 0; i < 5; i++) {
            work.run();
        }
        double[] millis = new double[iterations];
        for (int i = 0; i < iterations; i++) {
            long start = System.nanoTime();
            work.run();
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(millis);
        return millis[iterations / 2];
    }
}
