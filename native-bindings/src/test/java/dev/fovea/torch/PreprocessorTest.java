package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Preprocessing matches torchvision's Resize(256) -> CenterCrop(224) -> ToTensor() -> Normalize(ImageNet) on real
 * photos (references from make_fixtures.py, computed by PIL and torchvision on the same files).
 */
class PreprocessorTest {

    private static final Preprocessing IMAGENET = Preprocessing.imagenet(256, 224);
    private static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    private static final float[] STD = {0.229f, 0.224f, 0.225f};

    /** torchvision's tensor for a fixture: its stored uint8 HWC crop through ToTensor() and Normalize(). */
    private static float[] reference(String file) throws IOException {
        byte[] crop = Files.readAllBytes(Fixtures.path(file + ".resize256_crop224.bin"));
        float[] chw = new float[3 * 224 * 224];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < 224 * 224; i++) {
                chw[c * 224 * 224 + i] = ((crop[i * 3 + c] & 0xFF) / 255f - MEAN[c]) / STD[c];
            }
        }
        return chw;
    }

    private static float[] preprocess(List<ImageInput> images, Preprocessing spec) {
        try (Tensor batch = Preprocessor.toTensor(images, spec, Device.CPU)) {
            assertEquals(DType.FLOAT32, batch.dtype());
            return batch.data().toArray(JAVA_FLOAT);
        }
    }

    private static MemorySegment fileBytes(String name, Arena arena) throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.path(name));
        return arena.allocate(bytes.length).copyFrom(MemorySegment.ofArray(bytes));
    }

    /** The PNG fixture's pixels as interleaved bytes in {@code format}, rows padded to {@code stride}. */
    private static MemorySegment pngPixels(Arena arena, PixelFormat format, int stride) throws IOException {
        BufferedImage image = ImageIO.read(Fixtures.path("cat.png").toFile());
        MemorySegment pixels = arena.allocate((long) stride * image.getHeight());
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                int rgb = image.getRGB(x, y);
                byte r = (byte) (rgb >> 16);
                byte g = (byte) (rgb >> 8);
                byte b = (byte) rgb;
                long at = (long) y * stride + (long) x * format.channels();
                switch (format) {
                    case RGB -> pixels.asSlice(at, 3).copyFrom(MemorySegment.ofArray(new byte[] {r, g, b}));
                    case BGR -> pixels.asSlice(at, 3).copyFrom(MemorySegment.ofArray(new byte[] {b, g, r}));
                    case GRAY -> throw new IllegalArgumentException("not used");
                }
            }
        }
        return pixels;
    }

    private static double maxAbsDiff(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
        }
        return max;
    }

    private static double meanAbsDiff(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double sum = 0;
        for (int i = 0; i < expected.length; i++) {
            sum += Math.abs(expected[i] - actual[i]);
        }
        return sum / expected.length;
    }

    @Test
    void pngMatchesTorchvisionWithinTwoHundredthsPerElement() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            float[] actual = preprocess(List.of(new ImageInput.Encoded(fileBytes("cat.png", arena))), IMAGENET);
            double max = maxAbsDiff(reference("cat.png"), actual);
            System.out.printf("PreprocessorTest: PNG max abs diff %.5f%n", max);
            assertTrue(max <= 2e-2, "max abs diff " + max);
        }
    }

    @Test
    void jpegMatchesTorchvisionWithinOneHundredthOnAverage() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            float[] actual = preprocess(List.of(new ImageInput.Encoded(fileBytes("coffee.jpg", arena))), IMAGENET);
            double mean = meanAbsDiff(reference("coffee.jpg"), actual);
            System.out.printf("PreprocessorTest: JPEG mean abs diff %.5f, max %.5f%n", mean,
                    maxAbsDiff(reference("coffee.jpg"), actual));
            assertTrue(mean <= 1e-2, "mean abs diff " + mean);
        }
    }

    @Test
    void rawPixelsWithPaddedRowsMatchTorchvision() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            int width = 360;
            int stride = width * 3 + 13;
            MemorySegment pixels = pngPixels(arena, PixelFormat.RGB, stride);
            float[] actual = preprocess(
                    List.of(new ImageInput.Pixels(pixels, width, 240, stride, PixelFormat.RGB)), IMAGENET);
            double max = maxAbsDiff(reference("cat.png"), actual);
            System.out.printf("PreprocessorTest: raw pixels max abs diff %.5f%n", max);
            assertTrue(max <= 2e-2, "max abs diff " + max);
        }
    }

    @Test
    void bgrPixelsGiveTheSameTensorAsRgb() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            float[] rgb = preprocess(List.of(new ImageInput.Pixels(pngPixels(arena, PixelFormat.RGB, 1080), 360, 240,
                    1080, PixelFormat.RGB)), IMAGENET);
            float[] bgr = preprocess(List.of(new ImageInput.Pixels(pngPixels(arena, PixelFormat.BGR, 1080), 360, 240,
                    1080, PixelFormat.BGR)), IMAGENET);
            assertArrayEquals(rgb, bgr);
        }
    }

    @Test
    void modelsThatTakeBgrGetTheChannelsReversed() throws IOException {
        Preprocessing bgrModel = new Preprocessing(256, 224, 224, new float[] {0.406f, 0.456f, 0.485f},
                new float[] {0.225f, 0.224f, 0.229f}, PixelFormat.BGR);
        try (Arena arena = Arena.ofConfined()) {
            List<ImageInput> png = List.of(new ImageInput.Encoded(fileBytes("cat.png", arena)));
            float[] rgb = preprocess(png, IMAGENET);
            float[] bgr = preprocess(png, bgrModel);
            int plane = 224 * 224;
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < plane; i += 97) {
                    assertEquals(rgb[c * plane + i], bgr[(2 - c) * plane + i], 1e-6f);
                }
            }
        }
    }

    @Test
    void grayModelsGetPilLuminance() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pixel = arena.allocate(3);
            pixel.copyFrom(MemorySegment.ofArray(new byte[] {(byte) 200, 100, 50}));
            Preprocessing gray = new Preprocessing(0, 1, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY);
            float[] value = preprocess(List.of(new ImageInput.Pixels(pixel, 1, 1, 3, PixelFormat.RGB)), gray);
            int luminance = (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16;
            assertArrayEquals(new float[] {luminance / 255f}, value, 1e-6f);
        }
    }

    @Test
    void aBatchEqualsItsImagesOneAtATime() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ImageInput png = new ImageInput.Encoded(fileBytes("cat.png", arena));
            ImageInput jpeg = new ImageInput.Encoded(fileBytes("coffee.jpg", arena));
            float[] batch = preprocess(List.of(png, jpeg), IMAGENET);
            float[] first = preprocess(List.of(png), IMAGENET);
            float[] second = preprocess(List.of(jpeg), IMAGENET);
            float[] joined = new float[first.length + second.length];
            System.arraycopy(first, 0, joined, 0, first.length);
            System.arraycopy(second, 0, joined, first.length, second.length);
            assertArrayEquals(joined, batch);
        }
    }

    @Test
    void badImagesAreInvalidArgumentsNamingTheImageAndField() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ImageInput good = new ImageInput.Encoded(fileBytes("cat.png", arena));
            MemorySegment garbage = arena.allocate(64).fill((byte) 7);
            assertInvalid("image 1: not a JPEG or PNG image", List.of(good, new ImageInput.Encoded(garbage)));
            MemorySegment jpeg = fileBytes("coffee.jpg", arena);
            assertInvalid("image 0: bad JPEG",
                    List.of(new ImageInput.Encoded(jpeg.asSlice(0, 100))));
            MemorySegment png = fileBytes("cat.png", arena);
            assertInvalid("image 0: bad PNG", List.of(new ImageInput.Encoded(png.asSlice(0, 200))));
            MemorySegment small = arena.allocate(100);
            assertInvalid("image 0: width and height must be at least 1",
                    List.of(new ImageInput.Pixels(small, 0, 4, 0, PixelFormat.RGB)));
            assertInvalid("image 0: row_stride 10 is less than width * channels (12)",
                    List.of(new ImageInput.Pixels(small, 4, 4, 10, PixelFormat.RGB)));
            assertInvalid("image 0: data holds 100 bytes, needs 120",
                    List.of(new ImageInput.Pixels(small, 10, 4, 0, PixelFormat.RGB)));
            assertInvalid("image 0: 20000x1 is too large",
                    List.of(new ImageInput.Pixels(small, 20_000, 1, 0, PixelFormat.GRAY)));
            // The failures left nothing behind: a good call still works.
            assertEquals(3 * 224 * 224, preprocess(List.of(good), IMAGENET).length);
        }
    }

    private static void assertInvalid(String message, List<ImageInput> images) {
        NativeException e = assertThrows(NativeException.class,
                () -> Preprocessor.toTensor(images, IMAGENET, Device.CPU).close());
        assertEquals(NativeException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }
}
