package dev.fovea.server.limits;

/**
 * How many pixels one request may make the server decode and preprocess: the one table of image limits.
 *
 * <p>An encoded image is small on the wire but costs its decoded size in memory and time: a 678-byte JPEG whose
 * header claims 16384x4096 made the server allocate about 1 GB and decode for seconds. So the services read each
 * encoded image's dimensions from its header, and count raw frames too, before anything is queued, and refuse a
 * request when one picture exceeds {@code maxImagePixels} or all of them together exceed {@code maxRequestPixels}.
 *
 * <p>{@link #MAX_SIDE} and {@link #MAX_PIXELS} are the native decoder's own hard limits ({@code kMaxSide},
 * {@code kMaxPixels} in {@code fovea_images.cpp}); the configurable per-image limit cannot go above them.
 *
 * @param maxImagePixels most pixels (width x height) of one picture, encoded or raw
 * @param maxRequestPixels most pixels of all the pictures of one request (or one stream frame) together
 */
public record ImageLimits(long maxImagePixels, long maxRequestPixels) {

    /** Largest width or height the native layer accepts. */
    public static final int MAX_SIDE = 16_384;
    /** Most pixels of one image the native layer accepts. */
    public static final long MAX_PIXELS = 64L << 20;

    /** Default per picture, sized to real cameras: one 8K UHD picture (7680x4320). */
    public static final long DEFAULT_IMAGE_PIXELS = 7680L * 4320;
    /** Default per request: 64 full-HD frames (1920x1080 each), a large batch of video frames. */
    public static final long DEFAULT_REQUEST_PIXELS = 64L * 1920 * 1080;

    public static final ImageLimits DEFAULT = new ImageLimits(DEFAULT_IMAGE_PIXELS, DEFAULT_REQUEST_PIXELS);

    public ImageLimits {
        if (maxImagePixels < 1 || maxImagePixels > MAX_PIXELS) {
            throw new IllegalArgumentException("the per-image pixel limit must be 1.." + MAX_PIXELS + ", got "
                    + maxImagePixels);
        }
        if (maxRequestPixels < 1) {
            throw new IllegalArgumentException("the per-request pixel limit must be at least 1, got "
                    + maxRequestPixels);
        }
    }
}
