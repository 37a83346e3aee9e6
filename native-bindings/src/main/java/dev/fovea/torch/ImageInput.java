package dev.fovea.torch;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * One picture for {@link Preprocessor}: an encoded file or raw pixels, in native memory that the native side reads in
 * place. The caller keeps the segment's arena open until the call that reads it returns.
 */
public sealed interface ImageInput {

    /** The segment holding the image's bytes. */
    MemorySegment bytes();

    /** A whole JPEG or PNG file. */
    record Encoded(MemorySegment bytes) implements ImageInput {
        public Encoded {
            requireNative(bytes);
        }
    }

    /**
     * Interleaved 8-bit pixels, {@code height} rows {@code rowStride} bytes apart (0: {@code width *
     * format.channels()}); the last row may end right after its pixels. Sizes are checked natively, where the limits
     * live; this only rejects what cannot be described at all.
     */
    record Pixels(MemorySegment bytes, int width, int height, int rowStride, PixelFormat format)
            implements ImageInput {
        public Pixels {
            requireNative(bytes);
            Objects.requireNonNull(format, "format");
            if (width < 0 || height < 0 || rowStride < 0) {
                throw new IllegalArgumentException("width, height and rowStride must not be negative");
            }
        }
    }

    private static void requireNative(MemorySegment bytes) {
        Objects.requireNonNull(bytes, "bytes");
        if (!bytes.isNative()) {
            throw new IllegalArgumentException("image bytes must be native (off-heap) memory");
        }
    }
}
