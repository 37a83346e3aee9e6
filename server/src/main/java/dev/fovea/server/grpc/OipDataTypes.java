package dev.fovea.server.grpc;

import dev.fovea.torch.DType;
import java.util.Map;

/**
 * The Open Inference Protocol's datatype strings ({@code UINT8}, {@code FP32}, ...) and Triton's config enum names
 * ({@code TYPE_UINT8}, ...), mapped to the native layer's {@link DType}. {@code BYTES} has no native type: it carries
 * encoded images (and classification strings in responses).
 */
final class OipDataTypes {

    static final String BYTES = "BYTES";

    private static final Map<String, DType> BY_NAME = Map.of(
            "BOOL", DType.BOOL,
            "UINT8", DType.UINT8,
            "INT8", DType.INT8,
            "INT32", DType.INT32,
            "INT64", DType.INT64,
            "FP16", DType.FLOAT16,
            "BF16", DType.BFLOAT16,
            "FP32", DType.FLOAT32,
            "FP64", DType.FLOAT64);

    private OipDataTypes() {}

    /** The native type of a datatype string, or null for BYTES and types Fovea's native layer does not carry. */
    static DType toNative(String datatype) {
        return BY_NAME.get(datatype);
    }

    /** The datatype string of a native type; OTHER has none. */
    static String toWire(DType type) {
        return switch (type) {
            case BOOL -> "BOOL";
            case UINT8 -> "UINT8";
            case INT8 -> "INT8";
            case INT32 -> "INT32";
            case INT64 -> "INT64";
            case FLOAT16 -> "FP16";
            case BFLOAT16 -> "BF16";
            case FLOAT32 -> "FP32";
            case FLOAT64 -> "FP64";
            case OTHER -> throw new IllegalArgumentException("tensors of an unnamed libtorch type have no datatype");
        };
    }

    /** Triton's config name of a datatype string: FP32 → TYPE_FP32, BYTES → TYPE_STRING. */
    static String toConfigName(String datatype) {
        return datatype.equals(BYTES) ? "TYPE_STRING" : "TYPE_" + datatype;
    }

    /** The datatype string of a Triton config name: TYPE_FP32 → FP32, TYPE_STRING → BYTES; null if not one. */
    static String fromConfigName(String name) {
        if (name.equals("TYPE_STRING")) {
            return BYTES;
        }
        return name.startsWith("TYPE_") ? name.substring("TYPE_".length()) : null;
    }

    /** The datatypes a request may use, for error messages. */
    static String supported() {
        return "BOOL, UINT8, INT8, INT32, INT64, FP16, BF16, FP32, FP64, BYTES";
    }
}
