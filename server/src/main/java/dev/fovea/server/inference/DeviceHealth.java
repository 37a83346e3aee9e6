package dev.fovea.server.inference;

import dev.fovea.torch.NativeException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;

/**
 * Whether a model's device context still works. Some CUDA failures (an illegal memory access, a device-side assert)
 * leave the context unusable until the process ends: every later call on it fails. An instance that sees its stream
 * fail to synchronize after a failed batch records that here, and the model is reported not ready from then on.
 * Thread-safe; the first failure recorded is kept.
 */
final class DeviceHealth {

    private static final Logger log = Logger.getLogger(DeviceHealth.class.getName());

    private final AtomicReference<String> failure = new AtomicReference<>();

    void unusable(String why) {
        failure.compareAndSet(null, why);
    }

    /**
     * After a failed batch: waits for what it left queued on the instance's stream, so the next batch can reuse the
     * staging buffers. If even that fails, the failure broke the device context (a CUDA sticky error): the model
     * reports not ready from then on.
     */
    void afterFailedBatch(DeviceStaging device, ModelRunner.Settings settings) {
        NativeException broken;
        synchronized (device) {
            broken = device.synchronizeAfterFailure();
        }
        if (broken != null && failure.compareAndSet(null, broken.getMessage())) {
            log.severe("model " + settings.modelName() + ": the " + settings.device() + " context is unusable after a "
                    + "failed batch; the model reports not ready: " + broken.getMessage());
        }
    }

    /** Why the device context is unusable, or empty while it works. */
    Optional<String> failure() {
        return Optional.ofNullable(failure.get());
    }
}
