package dev.fovea.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.RawPixels;
import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {

    /** A 5x3 picture whose every pixel differs: red from x, green from y, blue from both. */
    private static int rgbAt(int x, int y) {
        return (x * 50 + 3) << 16 | (y * 80 + 7) << 8 | (x * 17 + y * 29 + 1);
    }

    private static BufferedImage picture(int type) {
        BufferedImage image = new BufferedImage(5, 3, type);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) {
                image.setRGB(x, y, rgbAt(x, y));
            }
        }
        return image;
    }

    private static byte[] expectedRgb(int width, int height, int fromX, int fromY) {
        byte[] rgb = new byte[width * height * 3];
        int i = 0;
        for (int y = fromY; y < fromY + height; y++) {
            for (int x = fromX; x < fromX + width; x++) {
                int pixel = rgbAt(x, y);
                rgb[i++] = (byte) (pixel >> 16);
                rgb[i++] = (byte) (pixel >> 8);
                rgb[i++] = (byte) pixel;
            }
        }
        return rgb;
    }

    private static RawPixels rgbPixels(Image image, int width, int height) {
        RawPixels pixels = image.getPixels();
        assertEquals(PixelFormat.PIXEL_FORMAT_RGB, pixels.getFormat());
        assertEquals(width, pixels.getWidth());
        assertEquals(height, pixels.getHeight());
        assertEquals(0, pixels.getRowStride(), "packed rows");
        return pixels;
    }

    @Test
    void intRgbImageBecomesItsExactRgbBytes() {
        Image image = Images.of(picture(BufferedImage.TYPE_INT_RGB));
        assertArrayEquals(expectedRgb(5, 3, 0, 0), rgbPixels(image, 5, 3).getData().toByteArray());
    }

    @Test
    void threeByteBgrImageIsSentInRgbOrder() {
        Image image = Images.of(picture(BufferedImage.TYPE_3BYTE_BGR));
        assertArrayEquals(expectedRgb(5, 3, 0, 0), rgbPixels(image, 5, 3).getData().toByteArray());
    }

    @Test
    void grayImageRepeatsEachStoredValueInAllThreeChannels() {
        BufferedImage gray = new BufferedImage(4, 2, BufferedImage.TYPE_BYTE_GRAY);
        WritableRaster raster = gray.getRaster();
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 4; x++) {
                raster.setSample(x, y, 0, x * 60 + y * 7);
            }
        }
        byte[] expected = new byte[4 * 2 * 3];
        for (int i = 0; i < 8; i++) {
            int value = (i % 4) * 60 + (i / 4) * 7;
            expected[3 * i] = expected[3 * i + 1] = expected[3 * i + 2] = (byte) value;
        }
        // Not getRGB's answer: that converts linear gray to sRGB and would brighten mid-grays.
        assertArrayEquals(expected, rgbPixels(Images.of(gray), 4, 2).getData().toByteArray());
    }

    @Test
    void packedAndAlphaLayoutsComeOutAsRgbWithAlphaDropped() {
        for (int type : new int[] {BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_4BYTE_ABGR, BufferedImage.TYPE_INT_BGR}) {
            assertArrayEquals(expectedRgb(5, 3, 0, 0),
                    rgbPixels(Images.of(picture(type)), 5, 3).getData().toByteArray(), "type " + type);
        }
    }

    @Test
    void subImageSendsOnlyItsOwnPixels() {
        for (int type : new int[] {BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_3BYTE_BGR}) {
            BufferedImage part = picture(type).getSubimage(1, 1, 3, 2);
            assertArrayEquals(expectedRgb(3, 2, 1, 1),
                    rgbPixels(Images.of(part), 3, 2).getData().toByteArray(), "type " + type);
        }
    }

    @Test
    void otherImageTypesGoThroughSrgbConversion() {
        BufferedImage indexed = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_BINARY);
        indexed.setRGB(1, 0, 0xFFFFFF);
        assertArrayEquals(new byte[] {0, 0, 0, -1, -1, -1},
                rgbPixels(Images.of(indexed), 2, 1).getData().toByteArray());
        BufferedImage premultiplied = new BufferedImage(1, 1, BufferedImage.TYPE_INT_ARGB_PRE);
        premultiplied.setRGB(0, 0, 0xFF336699);
        assertArrayEquals(new byte[] {0x33, 0x66, (byte) 0x99},
                rgbPixels(Images.of(premultiplied), 1, 1).getData().toByteArray());
    }

    @Test
    void fileIsSentAsItsBytesUnchanged(@TempDir Path folder) throws Exception {
        byte[] bytes = {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3};
        Path file = Files.write(folder.resolve("x.png"), bytes);
        assertArrayEquals(bytes, Images.file(file).getEncoded().getData().toByteArray());
    }

    @Test
    void pixelsKeepTheirLayoutAndAreCopied() {
        byte[] data = new byte[2 * 8 + 6]; // two padded rows of 8 bytes, the last row cut after its 6 pixel bytes
        data[0] = 42;
        Image image = Images.pixels(data, 2, 3, 8, PixelFormat.PIXEL_FORMAT_BGR);
        data[0] = 0;
        RawPixels pixels = image.getPixels();
        assertEquals(8, pixels.getRowStride());
        assertEquals(PixelFormat.PIXEL_FORMAT_BGR, pixels.getFormat());
        assertEquals(22, pixels.getData().size());
        assertEquals(42, pixels.getData().byteAt(0));
    }

    @Test
    void pixelsThatDoNotMatchTheirSizeAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> Images.pixels(new byte[11], 2, 2, 0, PixelFormat.PIXEL_FORMAT_RGB));
        assertThrows(IllegalArgumentException.class,
                () -> Images.pixels(new byte[13], 2, 2, 0, PixelFormat.PIXEL_FORMAT_RGB));
        assertThrows(IllegalArgumentException.class,
                () -> Images.pixels(new byte[12], 2, 2, 5, PixelFormat.PIXEL_FORMAT_RGB));
        assertThrows(IllegalArgumentException.class,
                () -> Images.pixels(new byte[4], 2, 2, 0, PixelFormat.PIXEL_FORMAT_UNSPECIFIED));
        assertThrows(IllegalArgumentException.class, () -> Images.encoded(new byte[0]));
    }
}
