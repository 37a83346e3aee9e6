package dev.fovea.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.RawPixels;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DirectColorModel;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Factories for {@link Image} messages. Every factory copies what it is given, so the caller may reuse its arrays
 * and images as soon as a factory returns.
 */
public final class Images {

    private Images() {}

    /**
     * The file's bytes as an encoded image (JPEG or PNG), unchanged: the server decodes them.
     *
     * @throws IOException when the file cannot be read
     */
    public static Image file(Path imageFile) throws IOException {
        return encoded(Files.readAllBytes(imageFile));
    }

    /** An encoded image (a JPEG or PNG file's bytes). Throws IllegalArgumentException if {@code fileBytes} is empty. */
    public static Image encoded(byte[] fileBytes) {
        if (fileBytes.length == 0) {
            throw new IllegalArgumentException("an encoded image needs at least one byte");
        }
        return Image.newBuilder().setEncoded(EncodedImage.newBuilder().setData(ByteString.copyFrom(fileBytes)))
                .build();
    }

    /**
     * Raw 8-bit pixels: {@code height} rows of {@code rowStride} bytes (0 means {@code width * channels}), the last
     * row possibly cut after its {@code width * channels} bytes, as the proto's RawPixels describes.
     *
     * @throws IllegalArgumentException when the sizes do not describe {@code data}
     */
    public static Image pixels(byte[] data, int width, int height, int rowStride, PixelFormat format) {
        int channels = switch (format) {
            case PIXEL_FORMAT_RGB, PIXEL_FORMAT_BGR -> 3;
            case PIXEL_FORMAT_GRAY -> 1;
            case PIXEL_FORMAT_UNSPECIFIED, UNRECOGNIZED ->
                    throw new IllegalArgumentException("format must be RGB, BGR or GRAY, not " + format);
        };
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("width and height must be at least 1, got " + width + "x" + height);
        }
        long rowBytes = (long) width * channels;
        long stride = rowStride == 0 ? rowBytes : rowStride;
        if (stride < rowBytes) {
            throw new IllegalArgumentException("rowStride " + rowStride + " is less than width x channels ("
                    + rowBytes + ")");
        }
        long needed = (height - 1) * stride + rowBytes;
        if (data.length < needed || data.length > height * stride) {
            throw new IllegalArgumentException(data.length + " bytes do not hold " + width + "x" + height + " "
                    + format + " with row stride " + stride + " (" + needed + " to " + height * stride + " bytes)");
        }
        return pixelsMessage(ByteString.copyFrom(data), width, height, rowStride, format);
    }

    /**
     * The image's pixels as raw RGB, row after row without padding; nothing is encoded. Alpha is dropped (not
     * composited), as the server drops it from PNGs. 8-bit RGB and gray images of the common layouts (TYPE_INT_RGB,
     * TYPE_INT_ARGB, TYPE_INT_BGR, TYPE_3BYTE_BGR, TYPE_4BYTE_ABGR, TYPE_BYTE_GRAY and their custom equivalents,
     * including sub-images) are copied sample by sample, a gray value {@code v} becoming {@code (v, v, v)}; every
     * other type (indexed, 16-bit, premultiplied, other colour spaces) goes through {@link BufferedImage#getRGB},
     * which converts to sRGB.
     */
    public static Image of(BufferedImage image) {
        int width = image.getWidth();
        int height = image.getHeight();
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(width, height), 3)];
        ColorModel colorModel = image.getColorModel();
        boolean copied = !colorModel.isAlphaPremultiplied() && allSamplesAre8Bits(colorModel)
                && (copyComponents(image, colorModel, rgb) || copyPacked(image, colorModel, rgb));
        if (!copied) {
            copyThroughGetRgb(image, rgb);
        }
        // The array is ours and never written again, so the message may share it instead of copying it once more.
        return pixelsMessage(UnsafeByteOperations.unsafeWrap(rgb), width, height, 0, PixelFormat.PIXEL_FORMAT_RGB);
    }

    private static boolean allSamplesAre8Bits(ColorModel colorModel) {
        for (int size : colorModel.getComponentSize()) {
            if (size != 8) {
                return false;
            }
        }
        return true;
    }

    /**
     * One byte per sample (TYPE_3BYTE_BGR, TYPE_4BYTE_ABGR, TYPE_BYTE_GRAY, ImageIO's custom RGB layouts). The
     * raster's data elements come in colour-model order (red, green, blue[, alpha], or gray[, alpha]) whatever the
     * order in memory, and Java2D's rasters copy them with array loops.
     */
    private static boolean copyComponents(BufferedImage image, ColorModel colorModel, byte[] rgb) {
        if (!(colorModel instanceof ComponentColorModel) || colorModel.getTransferType() != DataBuffer.TYPE_BYTE) {
            return false;
        }
        ColorSpace space = colorModel.getColorSpace();
        boolean gray = space.getType() == ColorSpace.TYPE_GRAY && colorModel.getNumColorComponents() == 1;
        if (!gray && !space.isCS_sRGB()) {
            return false;
        }
        int width = image.getWidth();
        int samples = colorModel.getNumComponents();
        WritableRaster raster = image.getRaster();
        byte[] row = new byte[width * samples];
        int out = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            raster.getDataElements(0, y, width, 1, row);
            for (int in = 0; in < row.length; in += samples) {
                rgb[out] = row[in];
                rgb[out + 1] = row[gray ? in : in + 1];
                rgb[out + 2] = row[gray ? in : in + 2];
                out += 3;
            }
        }
        return true;
    }

    /** One int per pixel with 8-bit channel masks (TYPE_INT_RGB, TYPE_INT_ARGB, TYPE_INT_BGR). */
    private static boolean copyPacked(BufferedImage image, ColorModel colorModel, byte[] rgb) {
        if (!(colorModel instanceof DirectColorModel direct) || direct.getTransferType() != DataBuffer.TYPE_INT
                || !direct.getColorSpace().isCS_sRGB()) {
            return false;
        }
        int redShift = Integer.numberOfTrailingZeros(direct.getRedMask());
        int greenShift = Integer.numberOfTrailingZeros(direct.getGreenMask());
        int blueShift = Integer.numberOfTrailingZeros(direct.getBlueMask());
        int width = image.getWidth();
        WritableRaster raster = image.getRaster();
        int[] row = new int[width];
        int out = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            raster.getDataElements(0, y, width, 1, row);
            for (int pixel : row) {
                rgb[out] = (byte) (pixel >>> redShift);
                rgb[out + 1] = (byte) (pixel >>> greenShift);
                rgb[out + 2] = (byte) (pixel >>> blueShift);
                out += 3;
            }
        }
        return true;
    }

    private static void copyThroughGetRgb(BufferedImage image, byte[] rgb) {
        int width = image.getWidth();
        int[] row = new int[width];
        int out = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            image.getRGB(0, y, width, 1, row, 0, width);
            for (int pixel : row) {
                rgb[out] = (byte) (pixel >>> 16);
                rgb[out + 1] = (byte) (pixel >>> 8);
                rgb[out + 2] = (byte) pixel;
                out += 3;
            }
        }
    }

    private static Image pixelsMessage(ByteString data, int width, int height, int rowStride, PixelFormat format) {
        return Image.newBuilder().setPixels(RawPixels.newBuilder().setData(data).setWidth(width).setHeight(height)
                .setRowStride(rowStride).setFormat(format)).build();
    }
}
