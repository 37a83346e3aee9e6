package dev.fovea.server.http;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.server.limits.ClientText;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * A tensor's {@code data} in KServe v2 JSON and its raw little-endian bytes, in both directions: numbers for the
 * numeric datatypes (FP16 and BF16 converted from and to their nearest float), {@code true}/{@code false} for BOOL,
 * strings for BYTES (their UTF-8 bytes, each raw element a 4-byte little-endian length and the bytes, as in
 * {@code raw_input_contents}). Data may be flat or nested, row-major.
 */
final class JsonTensorData {

    private static final Pattern INTEGER = Pattern.compile("-?[0-9]{1,20}");

    private JsonTensorData() {}

    /** The byte size of one element, or 0 for BYTES, or -1 for a datatype this codec does not know. */
    static int elementSize(String datatype) {
        return switch (datatype) {
            case "BOOL", "INT8", "UINT8" -> 1;
            case "INT16", "UINT16", "FP16", "BF16" -> 2;
            case "INT32", "UINT32", "FP32" -> 4;
            case "INT64", "UINT64", "FP64" -> 8;
            case "BYTES" -> 0;
            default -> -1;
        };
    }

    /**
     * Reads {@code count} elements of {@code datatype} (known to {@link #elementSize}) from the reader, positioned at
     * the {@code data} value, nested at most {@code rank} deep, into raw bytes.
     */
    static ByteString read(JsonReader in, String datatype, long count, int rank, String field) throws IOException {
        int size = elementSize(datatype);
        Sink sink = size == 0 ? new Sink(null, new ByteArrayOutputStream()) : new Sink(
                ByteBuffer.allocate(Math.toIntExact(count * size)).order(ByteOrder.LITTLE_ENDIAN), null);
        if (in.peek() != JsonToken.BEGIN_ARRAY) {
            throw bad(field + ": must be an array of elements");
        }
        long read = readArray(in, datatype, sink, count, rank, 0, field);
        if (read != count) {
            throw bad(field + ": " + read + " elements, but the shape holds " + count);
        }
        return size == 0 ? UnsafeByteOperations.unsafeWrap(sink.strings.toByteArray())
                : UnsafeByteOperations.unsafeWrap(sink.numbers.array());
    }

    private record Sink(ByteBuffer numbers, ByteArrayOutputStream strings) {}

    private static long readArray(JsonReader in, String datatype, Sink sink, long count, int rank, long read,
            String field) throws IOException {
        in.beginArray();
        while (in.hasNext()) {
            if (in.peek() == JsonToken.BEGIN_ARRAY) {
                if (rank <= 1) {
                    throw bad(field + ": nested deeper than the shape's rank");
                }
                read = readArray(in, datatype, sink, count, rank - 1, read, field);
                continue;
            }
            if (read == count) {
                throw bad(field + ": more elements than the shape holds (" + count + ")");
            }
            readElement(in, datatype, sink, field + "[" + read + "]");
            read++;
        }
        in.endArray();
        return read;
    }

    private static void readElement(JsonReader in, String datatype, Sink sink, String field) throws IOException {
        JsonToken token = in.peek();
        if (datatype.equals("BYTES")) {
            if (token != JsonToken.STRING) {
                throw bad(field + ": BYTES elements are strings, got " + token);
            }
            byte[] utf8 = in.nextString().getBytes(StandardCharsets.UTF_8);
            int length = utf8.length;
            sink.strings.write(new byte[] {(byte) length, (byte) (length >> 8), (byte) (length >> 16),
                (byte) (length >> 24)}, 0, 4);
            sink.strings.write(utf8, 0, length);
            return;
        }
        ByteBuffer out = sink.numbers;
        if (datatype.equals("BOOL")) {
            if (token != JsonToken.BOOLEAN) {
                throw bad(field + ": BOOL elements are true or false, got " + token);
            }
            out.put((byte) (in.nextBoolean() ? 1 : 0));
            return;
        }
        if (token != JsonToken.NUMBER) {
            throw bad(field + ": " + datatype + " elements are numbers, got " + token);
        }
        String text = in.nextString();
        switch (datatype) {
            case "FP32" -> out.putFloat(Float.parseFloat(text));
            case "FP64" -> out.putDouble(Double.parseDouble(text));
            case "FP16" -> out.putShort(Float.floatToFloat16(Float.parseFloat(text)));
            case "BF16" -> out.putShort(bfloat16(Float.parseFloat(text)));
            case "UINT64" -> out.putLong(unsigned64(text, field));
            default -> {
                long value = integer(text, field);
                switch (datatype) {
                    case "INT8" -> out.put((byte) inRange(value, Byte.MIN_VALUE, Byte.MAX_VALUE, text, field));
                    case "UINT8" -> out.put((byte) inRange(value, 0, 255, text, field));
                    case "INT16" -> out.putShort((short) inRange(value, Short.MIN_VALUE, Short.MAX_VALUE, text, field));
                    case "UINT16" -> out.putShort((short) inRange(value, 0, 65_535, text, field));
                    case "INT32" -> out.putInt((int) inRange(value, Integer.MIN_VALUE, Integer.MAX_VALUE, text, field));
                    case "UINT32" -> out.putInt((int) inRange(value, 0, 0xFFFF_FFFFL, text, field));
                    default -> out.putLong(value);
                }
            }
        }
    }

    /** An integer literal; plain digits only, so no exponent can make parsing expensive. */
    static long integer(String text, String field) {
        if (!INTEGER.matcher(text).matches()) {
            throw bad(field + ": " + ClientText.quote(text) + " is not an integer");
        }
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw bad(field + ": " + ClientText.quote(text) + " is outside the 64-bit range");
        }
    }

    private static long unsigned64(String text, String field) {
        try {
            if (INTEGER.matcher(text).matches()) {
                return Long.parseUnsignedLong(text);
            }
        } catch (NumberFormatException e) {
            // falls through to the message below
        }
        throw bad(field + ": " + ClientText.quote(text) + " is not a UINT64");
    }

    private static long inRange(long value, long min, long max, String text, String field) {
        if (value < min || value > max) {
            throw bad(field + ": " + ClientText.quote(text) + " is outside " + min + ".." + max);
        }
        return value;
    }

    /** bfloat16 is a float's top 16 bits; round to nearest, ties to even, as torch converts. */
    private static short bfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Writes {@code count} elements of {@code datatype} from raw little-endian {@code bytes} as a flat JSON array. */
    static void write(JsonWriter out, String datatype, ByteBuffer bytes) throws IOException {
        ByteBuffer in = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        out.beginArray();
        while (in.hasRemaining()) {
            switch (datatype) {
                case "BOOL" -> out.value(in.get() != 0);
                case "INT8" -> out.value(in.get());
                case "UINT8" -> out.value(Byte.toUnsignedInt(in.get()));
                case "INT16" -> out.value(in.getShort());
                case "UINT16" -> out.value(Short.toUnsignedInt(in.getShort()));
                case "INT32" -> out.value(in.getInt());
                case "UINT32" -> out.value(Integer.toUnsignedLong(in.getInt()));
                case "INT64" -> out.value(in.getLong());
                case "UINT64" -> out.jsonValue(Long.toUnsignedString(in.getLong()));
                case "FP16" -> ProtoJson.number(out, Float.float16ToFloat(in.getShort()));
                case "BF16" -> ProtoJson.number(out, Float.intBitsToFloat(in.getShort() << 16));
                case "FP32" -> ProtoJson.number(out, in.getFloat());
                case "FP64" -> ProtoJson.number(out, in.getDouble());
                case "BYTES" -> {
                    int length = in.getInt();
                    byte[] utf8 = new byte[Math.clamp(length, 0, in.remaining())];
                    in.get(utf8);
                    out.value(new String(utf8, StandardCharsets.UTF_8));
                }
                default -> throw new IllegalStateException("no JSON form for datatype " + datatype);
            }
        }
        out.endArray();
    }

    static HttpErrors.BadRequest bad(String message) {
        return new HttpErrors.BadRequest(message);
    }
}
