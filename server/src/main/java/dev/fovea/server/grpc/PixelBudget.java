package dev.fovea.server.grpc;

import dev.fovea.server.limits.ImageHeader;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.serving.Statuses;
import java.lang.foreign.MemorySegment;

/**
 * The pixels one request's pictures may cost ({@link ImageLimits}), counted while the request is read: each encoded
 * image by the size its header claims, each raw frame by its dimensions. A picture over the per-image limit, or one
 * that takes the request over its limit, is an INVALID_INPUT naming its field, before anything is queued or decoded.
 *
 * <p>One per request (or stream frame); not thread-safe.
 */
final class PixelBudget {

    private final ImageLimits limits;
    private long used;

    PixelBudget(ImageLimits limits) {
        this.limits = limits;
    }

    /** Reads the header of {@code bytes}, an encoded image, and counts the picture it claims. */
    void chargeEncoded(MemorySegment bytes, String field) {
        ImageHeader.Size size;
        try {
            size = ImageHeader.read(bytes);
        } catch (ImageHeader.UnreadableException e) {
            throw Statuses.invalid(field + ": " + e.getMessage());
        }
        charge(size.width(), size.height(), field);
    }

    /** Counts a picture of {@code width} x {@code height} (each below 2^31, so their product fits a long). */
    void charge(long width, long height, String field) {
        if (width > ImageLimits.MAX_SIDE || height > ImageLimits.MAX_SIDE) {
            throw Statuses.invalid(field + ": " + width + "x" + height + " pixels exceed the largest side, "
                    + ImageLimits.MAX_SIDE);
        }
        long pixels = width * height;
        if (pixels > limits.maxImagePixels()) {
            throw Statuses.invalid(field + ": " + width + "x" + height + " pixels exceed the limit of "
                    + limits.maxImagePixels() + " pixels per image");
        }
        used += pixels;
        if (used > limits.maxRequestPixels()) {
            throw Statuses.invalid(field + ": the request's pictures reach " + used + " pixels here, over the limit "
                    + "of " + limits.maxRequestPixels() + " pixels per request");
        }
    }
}
