package dev.fovea.torch;

import dev.fovea.torch.internal.bindings.fovea_torch_h;

/** Element types a {@link Tensor} can hold, with their size in bytes. */
public enum DType {
    UINT8(fovea_torch_h.FOVEA_DTYPE_UINT8(), 1),
    INT8(fovea_torch_h.FOVEA_DTYPE_INT8(), 1),
    INT32(fovea_torch_h.FOVEA_DTYPE_INT32(), 4),
    INT64(fovea_torch_h.FOVEA_DTYPE_INT64(), 8),
    FLOAT16(fovea_torch_h.FOVEA_DTYPE_FLOAT16(), 2),
    BFLOAT16(fovea_torch_h.FOVEA_DTYPE_BFLOAT16(), 2),
    FLOAT32(fovea_torch_h.FOVEA_DTYPE_FLOAT32(), 4),
    FLOAT64(fovea_torch_h.FOVEA_DTYPE_FLOAT64(), 8),
    BOOL(fovea_torch_h.FOVEA_DTYPE_BOOL(), 1),
    /** A type libtorch has and Fovea does not name (complex, quantized, ...): such tensors can't be read here. */
    OTHER(fovea_torch_h.FOVEA_DTYPE_OTHER(), 0);

    private final int code;
    private final int byteSize;

    DType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** Bytes per element; 0 for {@link #OTHER}. */
    public int byteSize() {
        return byteSize;
    }

    int code() {
        return code;
    }

    static DType ofCode(int code) {
        for (DType type : values()) {
            if (type.code == code) {
                return type;
            }
        }
        return OTHER;
    }
}
