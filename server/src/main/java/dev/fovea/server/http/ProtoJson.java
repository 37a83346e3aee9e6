package dev.fovea.server.http;

import com.google.gson.stream.JsonWriter;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MapEntry;
import com.google.protobuf.MessageOrBuilder;
import java.io.IOException;
import java.util.Base64;
import java.util.List;

/**
 * Protobuf messages as the JSON Triton's HTTP server writes: proto field names, enums by name, maps as objects, and
 * 64-bit integers as numbers (protobuf's own JSON form writes them as strings, which KServe clients do not expect
 * for shapes and counters). Scalars and lists are written even when empty or zero, as Triton does; unset messages
 * and oneof members are left out.
 */
final class ProtoJson {

    private ProtoJson() {}

    static void write(JsonWriter out, MessageOrBuilder message) throws IOException {
        out.beginObject();
        for (FieldDescriptor field : message.getDescriptorForType().getFields()) {
            if (!field.isRepeated() && field.hasPresence() && !message.hasField(field)) {
                continue;
            }
            out.name(field.getName());
            Object value = message.getField(field);
            if (field.isMapField()) {
                out.beginObject();
                for (Object entry : (List<?>) value) {
                    MapEntry<?, ?> pair = (MapEntry<?, ?>) entry;
                    out.name(String.valueOf(pair.getKey()));
                    writeValue(out, field.getMessageType().findFieldByNumber(2), pair.getValue());
                }
                out.endObject();
            } else if (field.isRepeated()) {
                out.beginArray();
                for (Object element : (List<?>) value) {
                    writeValue(out, field, element);
                }
                out.endArray();
            } else {
                writeValue(out, field, value);
            }
        }
        out.endObject();
    }

    private static void writeValue(JsonWriter out, FieldDescriptor field, Object value) throws IOException {
        switch (field.getJavaType()) {
            case INT -> out.value(unsigned(field) ? Integer.toUnsignedLong((Integer) value) : (Integer) value);
            case LONG -> {
                if (unsigned(field)) {
                    out.jsonValue(Long.toUnsignedString((Long) value));
                } else {
                    out.value((long) (Long) value);
                }
            }
            case FLOAT -> number(out, (Float) value);
            case DOUBLE -> number(out, (Double) value);
            case BOOLEAN -> out.value((Boolean) value);
            case STRING -> out.value((String) value);
            case BYTE_STRING -> out.value(Base64.getEncoder().encodeToString(
                    ((com.google.protobuf.ByteString) value).toByteArray()));
            case ENUM -> out.value(((com.google.protobuf.Descriptors.EnumValueDescriptor) value).getName());
            case MESSAGE -> write(out, (MessageOrBuilder) value);
        }
    }

    /** A finite number as JSON; NaN and infinities as Python's json module reads them (JSON has no spelling). */
    static void number(JsonWriter out, double value) throws IOException {
        if (Double.isFinite(value)) {
            out.value(value);
        } else {
            out.jsonValue(Double.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        }
    }

    /** A float in its shortest form ({@code 0.1}, not the double {@code 0.10000000149011612}). */
    static void number(JsonWriter out, float value) throws IOException {
        if (Float.isFinite(value)) {
            out.jsonValue(Float.toString(value));
        } else {
            number(out, (double) value);
        }
    }

    private static boolean unsigned(FieldDescriptor field) {
        return switch (field.getType()) {
            case UINT32, FIXED32, UINT64, FIXED64 -> true;
            default -> false;
        };
    }
}
