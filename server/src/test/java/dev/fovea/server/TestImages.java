package dev.fovea.server;

import com.google.protobuf.ByteString;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.RawPixels;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/** Small deterministic pictures for the server tests, as raw pixels and encoded files. */
public final class TestImages {

    private TestImages() {}

    /** A picture with a gradient and a shape whose position depends on {@code seed}. */
    public static BufferedImage picture(int width, int height, int seed) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = image.createGraphics();
        for (int y = 0; y < height; y++) {
            g.setColor(new Color((y * 255) / height, 80, 255 - (y * 255) / height));
            g.drawLine(0, y, width, y);
        }
        g.setColor(new Color(250, 240, 30));
        g.fillOval((seed * 7) % Math.max(1, width / 2), (seed * 3) % Math.max(1, height / 2), width / 2, height / 2);
        g.dispose();
        return image;
    }

    /** Interleaved RGB bytes of {@code image}, rows {@code stride} bytes apart (padding bytes are 0x5A). */
    public static byte[] rgb(BufferedImage image, int stride) {
        byte[] bytes = new byte[stride * image.getHeight()];
        java.util.Arrays.fill(bytes, (byte) 0x5A);
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                int argb = image.getRGB(x, y);
                bytes[y * stride + x * 3] = (byte) (argb >> 16);
                bytes[y * stride + x * 3 + 1] = (byte) (argb >> 8);
                bytes[y * stride + x * 3 + 2] = (byte) argb;
            }
        }
        return bytes;
    }

    public static Image pixels(BufferedImage image) {
        return Image.newBuilder().setPixels(RawPixels.newBuilder()
                .setData(ByteString.copyFrom(rgb(image, image.getWidth() * 3)))
                .setWidth(image.getWidth())
                .setHeight(image.getHeight())
                .setFormat(PixelFormat.PIXEL_FORMAT_RGB)).build();
    }

    public static Image encoded(BufferedImage image, String format) {
        return Image.newBuilder().setEncoded(EncodedImage.newBuilder().setData(ByteString.copyFrom(
                file(image, format)))).build();
    }

    /**
     * A small real JPEG (16x16 pixels of data, a few hundred bytes) whose frame header claims {@code width} x
     * {@code height}: what a decoder would allocate for is the claim, not the file.
     */
    public static byte[] jpegClaiming(int width, int height) {
        byte[] jpeg = file(picture(16, 16, 1), "jpg");
        for (int i = 2; i + 8 < jpeg.length; i++) {
            if ((jpeg[i] & 0xFF) == 0xFF && (jpeg[i + 1] & 0xFF) == 0xC0) { // SOF0: length, precision, height, width
                jpeg[i + 5] = (byte) (height >> 8);
                jpeg[i + 6] = (byte) height;
                jpeg[i + 7] = (byte) (width >> 8);
                jpeg[i + 8] = (byte) width;
                return jpeg;
            }
        }
        throw new IllegalStateException("ImageIO wrote a JPEG without SOF0");
    }

    /** {@link #jpegClaiming} as an encoded image. */
    public static Image encodedClaiming(int width, int height) {
        return Image.newBuilder().setEncoded(EncodedImage.newBuilder().setData(ByteString.copyFrom(
                jpegClaiming(width, height)))).build();
    }

    /** {@code image} as a file in {@code format} ("png", "jpg"). */
    public static byte[] file(BufferedImage image, String format) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, format, out)) {
                throw new IllegalStateException("no ImageIO writer for " + format);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
