package dev.fovea.server.grpc;

import dev.fovea.torch.DType;
import dev.fovea.v1.DataType;

/** Maps the wire's {@link DataType} to the native layer's {@link DType} and back. */
final class DataTypes {

    private DataTypes() {}

    /** The native type, or null for DATA_TYPE_UNSPECIFIED and unknown values. */
    static DType toNative(DataType type) {
        return switch (type) {
            case DATA_TYPE_UINT8 -> DType.UINT8;
            case DATA_TYPE_INT8 -> DType.INT8;
            case DATA_TYPE_INT32 -> DType.INT32;
            case DATA_TYPE_INT64 -> DType.INT64;
            case DATA_TYPE_FLOAT16 -> DType.FLOAT16;
            case DATA_TYPE_BFLOAT16 -> DType.BFLOAT16;
            case DATA_TYPE_FLOAT32 -> DType.FLOAT32;
            case DATA_TYPE_FLOAT64 -> DType.FLOAT64;
            case DATA_TYPE_BOOL -> DType.BOOL;
            case DATA_TYPE_UNSPECIFIED, UNRECOGNIZED -> null;
        };
    }

    static DataType toWire(DType type) {
        return switch (type) {
            case UINT8 -> DataType.DATA_TYPE_UINT8;
            case INT8 -> DataType.DATA_TYPE_INT8;
            case INT32 -> DataType.DATA_TYPE_INT32;
            case INT64 -> DataType.DATA_TYPE_INT64;
            case FLOAT16 -> DataType.DATA_TYPE_FLOAT16;
            case BFLOAT16 -> DataType.DATA_TYPE_BFLOAT16;
            case FLOAT32 -> DataType.DATA_TYPE_FLOAT32;
            case FLOAT64 -> DataType.DATA_TYPE_FLOAT64;
            case BOOL -> DataType.DATA_TYPE_BOOL;
            case OTHER -> DataType.DATA_TYPE_UNSPECIFIED;
        };
    }
}
