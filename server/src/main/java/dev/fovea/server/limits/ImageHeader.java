package dev.fovea.server.limits;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The dimensions an encoded image claims, read from its header without decoding it: a JPEG's frame header (the first
 * SOFn segment, as libjpeg-turbo reads it) or a PNG's IHDR chunk. The services read them before anything is queued, so
 * that the pixel limits ({@link ImageLimits}) refuse a small file claiming a huge picture before the decoder allocates
 * for it.
 *
 * <p>The same two signatures the native decoder takes ({@code FF D8 FF}, and PNG's eight bytes) are recognised; the
 * JPEG walk reads only segment lengths and stops after {@link #MAX_JPEG_SEGMENTS} segments, so its work is bounded
 * however the file is crafted.
 */
public final class ImageHeader {

    /**
     * Segments read before a JPEG's frame header at most. Real files carry a handful (JFIF/Exif, ICC profile parts,
     * quantization tables, comments); more than this is a crafted file.
     */
    static final int MAX_JPEG_SEGMENTS = 1024;

    private static final byte[] JPEG_SIGNATURE = {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF};
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    /** PNG signature, IHDR length and type, width, height. */
    private static final int PNG_HEADER_BYTES = 24;

    /** The picture a header claims: pixels across and down. */
    public record Size(long width, long height) {
        public long pixels() {
            return width * height;
        }

        @Override
        public String toString() {
            return width + "x" + height;
        }
    }

    /** The header is not one the decoder could read; the message says why, in one line. */
    public static final class UnreadableException extends Exception {
        UnreadableException(String message) {
            super(message);
        }
    }

    private ImageHeader() {}

    /** The size {@code bytes} (a whole encoded file) claims, or why it has none. */
    public static Size read(MemorySegment bytes) throws UnreadableException {
        if (startsWith(bytes, JPEG_SIGNATURE)) {
            return jpeg(bytes);
        }
        if (startsWith(bytes, PNG_SIGNATURE)) {
            return png(bytes);
        }
        throw new UnreadableException("not a JPEG or PNG image");
    }

    private static Size jpeg(MemorySegment bytes) throws UnreadableException {
        long size = bytes.byteSize();
        long position = 2; // after SOI
        for (int segment = 0; segment < MAX_JPEG_SEGMENTS; segment++) {
            if (position >= size) {
                throw truncated();
            }
            if (u8(bytes, position) != 0xFF) {
                throw new UnreadableException("JPEG: no marker at byte " + position);
            }
            while (position < size && u8(bytes, position) == 0xFF) {
                position++; // fill bytes
            }
            if (position >= size) {
                throw truncated();
            }
            int marker = u8(bytes, position++);
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                continue; // TEM, RSTn: no length
            }
            if (marker == 0xD9 || marker == 0xDA || marker == 0xD8) {
                throw new UnreadableException("JPEG: no frame header (SOFn) before marker "
                        + Integer.toHexString(0xFF00 | marker).toUpperCase());
            }
            if (size - position < 2) {
                throw truncated();
            }
            int length = u16(bytes, position);
            if (length < 2) {
                throw new UnreadableException("JPEG: segment length " + length + " at byte " + position);
            }
            if (isFrameHeader(marker)) {
                // length, sample precision, height, width, components...: all of it must be there, as for the decoder
                if (length < 8) {
                    throw new UnreadableException("JPEG: frame header length " + length);
                }
                if (size - position < length) {
                    throw truncated();
                }
                long height = u16(bytes, position + 3);
                long width = u16(bytes, position + 5);
                if (width == 0 || height == 0) {
                    throw new UnreadableException("JPEG: the frame header gives " + width + "x" + height);
                }
                return new Size(width, height);
            }
            position += length;
        }
        throw new UnreadableException("JPEG: no frame header (SOFn) in the first " + MAX_JPEG_SEGMENTS
                + " segments");
    }

    /** SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC), which share the range. */
    private static boolean isFrameHeader(int marker) {
        return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    }

    private static UnreadableException truncated() {
        return new UnreadableException("JPEG: the file ends before its frame header (SOFn)");
    }

    private static Size png(MemorySegment bytes) throws UnreadableException {
        if (bytes.byteSize() < PNG_HEADER_BYTES) {
            throw new UnreadableException("PNG: the file ends before its IHDR chunk (" + bytes.byteSize()
                    + " bytes)");
        }
        boolean ihdr = u8(bytes, 12) == 'I' && u8(bytes, 13) == 'H' && u8(bytes, 14) == 'D' && u8(bytes, 15) == 'R';
        if (!ihdr || u32(bytes, 8) != 13) {
            throw new UnreadableException("PNG: the first chunk is not a 13-byte IHDR");
        }
        long width = u32(bytes, 16);
        long height = u32(bytes, 20);
        // The PNG specification allows 1..2^31-1 per side.
        if (width == 0 || height == 0 || width > Integer.MAX_VALUE || height > Integer.MAX_VALUE) {
            throw new UnreadableException("PNG: IHDR gives " + width + "x" + height);
        }
        return new Size(width, height);
    }

    private static boolean startsWith(MemorySegment bytes, byte[] signature) {
        if (bytes.byteSize() < signature.length) {
            return false;
        }
        for (int i = 0; i < signature.length; i++) {
            if (bytes.get(ValueLayout.JAVA_BYTE, i) != signature[i]) {
                return false;
            }
        }
        return true;
    }

    private static int u8(MemorySegment bytes, long offset) {
        return Byte.toUnsignedInt(bytes.get(ValueLayout.JAVA_BYTE, offset));
    }

    /** Big-endian, as both formats store their fields. */
    private static int u16(MemorySegment bytes, long offset) {
        return (u8(bytes, offset) << 8) | u8(bytes, offset + 1);
    }

    private static long u32(MemorySegment bytes, long offset) {
        return ((long) u16(bytes, offset) << 16) | u16(bytes, offset + 2);
    }
}
