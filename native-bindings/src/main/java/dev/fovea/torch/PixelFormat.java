package dev.fovea.torch;

import dev.fovea.torch.internal.bindings.fovea_torch_h;

/** Channel layouts of 8-bit pixels, and the channel order a model takes. */
public enum PixelFormat {
    RGB(fovea_torch_h.FOVEA_PIXEL_RGB(), 3),
    BGR(fovea_torch_h.FOVEA_PIXEL_BGR(), 3),
    GRAY(fovea_torch_h.FOVEA_PIXEL_GRAY(), 1);

    private final int code;
    private final int channels;

    PixelFormat(int code, int channels) {
        this.code = code;
        this.channels = channels;
    }

    public int channels() {
        return channels;
    }

    int code() {
        return code;
    }
}
