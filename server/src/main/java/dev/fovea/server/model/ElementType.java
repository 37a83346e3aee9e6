package dev.fovea.server.model;

import dev.fovea.torch.DType;
import dev.fovea.v1.DataType;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The element types a served model's tensors can have: the one table that names each type in every vocabulary the
 * server speaks. The native layer's {@link DType} (whose C side maps it to libtorch's scalar types), fovea.v1's
 * {@link DataType} enum and its model descriptions' lower-case names ({@code float32}), the Open Inference Protocol's
 * datatype strings ({@code FP32}) and Triton's config enum ({@code TYPE_FP32}).
 *
 * <p>{@link #BYTES} has no native type: it carries encoded images in requests and classification strings in
 * responses.
 */
public enum ElementType {
    BOOL(DType.BOOL, DataType.DATA_TYPE_BOOL, "BOOL", dev.fovea.oip.DataType.TYPE_BOOL),
    UINT8(DType.UINT8, DataType.DATA_TYPE_UINT8, "UINT8", dev.fovea.oip.DataType.TYPE_UINT8),
    INT8(DType.INT8, DataType.DATA_TYPE_INT8, "INT8", dev.fovea.oip.DataType.TYPE_INT8),
    INT32(DType.INT32, DataType.DATA_TYPE_INT32, "INT32", dev.fovea.oip.DataType.TYPE_INT32),
    INT64(DType.INT64, DataType.DATA_TYPE_INT64, "INT64", dev.fovea.oip.DataType.TYPE_INT64),
    FP16(DType.FLOAT16, DataType.DATA_TYPE_FLOAT16, "FP16", dev.fovea.oip.DataType.TYPE_FP16),
    BF16(DType.BFLOAT16, DataType.DATA_TYPE_BFLOAT16, "BF16", dev.fovea.oip.DataType.TYPE_BF16),
    FP32(DType.FLOAT32, DataType.DATA_TYPE_FLOAT32, "FP32", dev.fovea.oip.DataType.TYPE_FP32),
    FP64(DType.FLOAT64, DataType.DATA_TYPE_FLOAT64, "FP64", dev.fovea.oip.DataType.TYPE_FP64),
    BYTES(null, null, "BYTES", dev.fovea.oip.DataType.TYPE_STRING);

    private final DType nativeType;
    private final DataType wire;
    private final String datatype;
    private final dev.fovea.oip.DataType config;

    ElementType(DType nativeType, DataType wire, String datatype, dev.fovea.oip.DataType config) {
        this.nativeType = nativeType;
        this.wire = wire;
        this.datatype = datatype;
        this.config = config;
    }

    // Lookups by each vocabulary's name, made once: requests and responses look types up on the hot path.
    private static final Map<DType, ElementType> BY_NATIVE = index(element -> element.nativeType);
    private static final Map<DataType, ElementType> BY_WIRE = index(element -> element.wire);
    private static final Map<String, ElementType> BY_DATATYPE = index(element -> element.datatype);
    private static final Map<dev.fovea.oip.DataType, ElementType> BY_CONFIG = index(element -> element.config);

    private static <K> Map<K, ElementType> index(Function<ElementType, K> key) {
        Map<K, ElementType> map = new HashMap<>();
        for (ElementType element : values()) {
            if (key.apply(element) != null) {
                map.put(key.apply(element), element);
            }
        }
        return Map.copyOf(map);
    }

    /** The type of a native tensor; empty for {@link DType#OTHER}, which no protocol names. */
    public static Optional<ElementType> of(DType type) {
        return Optional.ofNullable(BY_NATIVE.get(type));
    }

    /** The type of a native tensor that a protocol must name; OTHER is refused with the reason. */
    public static ElementType named(DType type) {
        return of(type).orElseThrow(() -> new IllegalArgumentException(
                "tensors of a libtorch type Fovea does not name have no datatype"));
    }

    /** fovea.v1's enum value; empty for DATA_TYPE_UNSPECIFIED and values this server does not know. */
    public static Optional<ElementType> ofWire(DataType wire) {
        return wire == null ? Optional.empty() : Optional.ofNullable(BY_WIRE.get(wire));
    }

    /** An Open Inference Protocol datatype string ({@code FP32}); empty for one Fovea does not carry. */
    public static Optional<ElementType> ofDatatype(String datatype) {
        return datatype == null ? Optional.empty() : Optional.ofNullable(BY_DATATYPE.get(datatype));
    }

    /** A Triton config data type ({@code TYPE_FP32}); empty for one Fovea does not carry. */
    public static Optional<ElementType> ofConfig(dev.fovea.oip.DataType config) {
        return config == null ? Optional.empty() : Optional.ofNullable(BY_CONFIG.get(config));
    }

    /** Every datatype string, for error messages. */
    public static String datatypes() {
        return Arrays.stream(values()).map(ElementType::datatype).collect(Collectors.joining(", "));
    }

    /** Every Triton config name, for error messages. */
    public static String configNames() {
        return Arrays.stream(values()).map(element -> element.config.name()).collect(Collectors.joining(", "));
    }

    /** The native type; fails for {@link #BYTES}, which reaches the native layer only as decoded pictures. */
    public DType nativeType() {
        if (nativeType == null) {
            throw new IllegalStateException("BYTES has no native tensor type");
        }
        return nativeType;
    }

    public boolean isBytes() {
        return this == BYTES;
    }

    /** fovea.v1's enum value; DATA_TYPE_UNSPECIFIED for {@link #BYTES}. */
    public DataType wire() {
        return wire == null ? DataType.DATA_TYPE_UNSPECIFIED : wire;
    }

    /** The Open Inference Protocol's datatype string, e.g. {@code FP32}. */
    public String datatype() {
        return datatype;
    }

    /** Triton's config enum value, e.g. {@code TYPE_FP32}. */
    public dev.fovea.oip.DataType config() {
        return config;
    }

    /** fovea.v1 model descriptions' name, e.g. {@code float32}; {@code bytes} for {@link #BYTES}. */
    public String specName() {
        return nativeType == null ? "bytes" : nativeType.name().toLowerCase(Locale.ROOT);
    }

    /** Bytes per element; 0 for {@link #BYTES}, whose elements have their own length. */
    public int byteSize() {
        return nativeType == null ? 0 : nativeType.byteSize();
    }
}
