package dev.fovea.client.cli;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.util.List;

/**
 * A moving scene for streaming demos: one bright filled shape bouncing across a dark plain background whose colour
 * drifts slowly. The shape changes every {@link #FRAMES_PER_SHAPE} frames, cycling through {@link #LABELS} in that
 * order, and its colour changes with it; its size breathes between 40% and 60% of the frame height. The demo models
 * (scripts/python/make_demo_models.py) were trained on shapes drawn the same way, with these labels.
 *
 * <p>A frame is a pure function of its index, so a test or a resumed stream can draw any frame again. Drawing uses
 * no antialiasing: every pixel is either background or shape. Not thread-safe: it draws into one reused image.
 */
public final class SyntheticScene {

    /** The shapes, in the order they appear; also the demo models' labels. */
    public static final List<String> LABELS = List.of("circle", "square", "triangle", "cross");
    public static final int FRAMES_PER_SHAPE = 30;

    /**
     * Bright shape colours: every channel at least 120 and one at 255, the range the demo models were trained on.
     * Seven of them against four shapes, so a colour does not give the shape away.
     */
    private static final Color[] COLOURS = {
        new Color(255, 130, 130), new Color(130, 255, 150), new Color(140, 180, 255), new Color(255, 230, 120),
        new Color(255, 140, 255), new Color(130, 255, 255), new Color(255, 190, 120)
    };

    private final int width;
    private final int height;
    private final BufferedImage canvas;
    private final Graphics2D graphics;
    /** The canvas's own buffer (TYPE_3BYTE_BGR keeps Java2D's fast fill loops): blue, green, red, packed rows. */
    private final byte[] bgr;

    /** A scene of {@code width x height} frames; both at least 16 pixels. */
    public SyntheticScene(int width, int height) {
        if (width < 16 || height < 16) {
            throw new IllegalArgumentException("a scene needs at least 16x16 pixels, not " + width + "x" + height);
        }
        this.width = width;
        this.height = height;
        this.canvas = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        this.graphics = canvas.createGraphics();
        this.bgr = ((DataBufferByte) canvas.getRaster().getDataBuffer()).getData();
    }

    /** The shape in frame {@code index}. */
    public static String labelAt(long index) {
        return LABELS.get((int) ((index / FRAMES_PER_SHAPE) % LABELS.size()));
    }

    /**
     * One frame drawn in a frame's pixels and the truth about it.
     *
     * @param label the shape drawn, one of {@link #LABELS}
     * @param rgb {@code width * height * 3} bytes, red, green, blue, rows from the top without padding; a new array
     *     that belongs to the caller
     * @param bounds the square the shape is drawn in: the circle's bounding box, the square itself, the triangle's
     *     circumscribed circle's box (the triangle points up, its apex at the top middle), the cross's arms' extent
     */
    public record Picture(String label, byte[] rgb, Rectangle bounds) {}

    /** Draws frame {@code index} (0 or more). */
    public Picture render(long index) {
        if (index < 0) {
            throw new IllegalArgumentException("frame index must not be negative: " + index);
        }
        String label = labelAt(index);
        graphics.setColor(background(index));
        graphics.fillRect(0, 0, width, height);

        int size = (int) Math.round(height * (0.5 + 0.1 * Math.sin(2 * Math.PI * index / 170.0)));
        // Position along each axis is a triangle wave over the free room: the shape bounces off the edges and stays
        // whole even while its size changes.
        int left = (int) Math.round(bounce(0.1 + index / 90.0) * (width - size));
        int top = (int) Math.round(bounce(0.7 + index / 70.0) * (height - size));
        graphics.setColor(COLOURS[(int) ((index / FRAMES_PER_SHAPE) % COLOURS.length)]);
        draw(label, left, top, size);
        return new Picture(label, toRgb(), new Rectangle(left, top, size, size));
    }

    private void draw(String label, int left, int top, int size) {
        switch (label) {
            case "circle" -> graphics.fillOval(left, top, size, size);
            case "square" -> graphics.fillRect(left, top, size, size);
            case "triangle" -> {
                double half = size / 2.0;
                double centreX = left + half;
                double centreY = top + half;
                int[] xs = new int[3];
                int[] ys = new int[3];
                for (int k = 0; k < 3; k++) {
                    xs[k] = (int) Math.round(centreX + half * Math.sin(k * 2 * Math.PI / 3));
                    ys[k] = (int) Math.round(centreY - half * Math.cos(k * 2 * Math.PI / 3));
                }
                graphics.fillPolygon(xs, ys, 3);
            }
            case "cross" -> {
                int bar = Math.max(1, (int) Math.round(size / 3.0));
                int offset = (size - bar) / 2;
                graphics.fillRect(left, top + offset, size, bar);
                graphics.fillRect(left + offset, top, bar, size);
            }
            default -> throw new IllegalStateException("no drawing for " + label);
        }
    }

    /** Each channel drifts between 15 and 75 at its own slow pace: dark, plain, never quite the same. */
    private static Color background(long index) {
        return new Color(drift(index, 410, 0.0), drift(index, 530, 2.1), drift(index, 670, 4.2));
    }

    private static int drift(long index, int period, double phase) {
        return (int) Math.round(45 + 30 * Math.sin(2 * Math.PI * index / period + phase));
    }

    /** A triangle wave with period 2 and range [0, 1]. */
    private static double bounce(double position) {
        double phase = position % 2;
        return phase <= 1 ? phase : 2 - phase;
    }

    private byte[] toRgb() {
        byte[] rgb = new byte[bgr.length];
        for (int i = 0; i < bgr.length; i += 3) {
            rgb[i] = bgr[i + 2];
            rgb[i + 1] = bgr[i + 1];
            rgb[i + 2] = bgr[i];
        }
        return rgb;
    }
}
