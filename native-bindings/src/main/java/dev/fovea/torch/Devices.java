package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_DEVICE_CPU;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_DEVICE_CUDA;

/** Converts between {@link Device} and the C API's fovea_device_type plus index. */
final class Devices {

    private Devices() {}

    static int toNative(Device device) {
        return device.type() == Device.Type.CPU ? FOVEA_DEVICE_CPU() : FOVEA_DEVICE_CUDA();
    }

    /** CUDA index -1 (libtorch's "current device") is reported as device 0, the only current device we set. */
    static Device fromNative(int type, int index) {
        return type == FOVEA_DEVICE_CUDA() ? Device.cuda(Math.max(0, index)) : Device.CPU;
    }
}
