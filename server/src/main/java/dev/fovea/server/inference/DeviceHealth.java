package dev.fovea.server.inference;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Whether a model's device context still works. Some CUDA failures (an illegal memory access, a device-side assert)
 * leave the context unusable until the process ends: every later call on it fails. An instance that sees its stream
 * fail to synchronize after a failed batch records that here, and the model is reported not ready from then on.
 * Thread-safe; the first failure recorded is kept.
 */
final class DeviceHealth {

    private final AtomicReference<String> failure = new AtomicReference<>();

    void unusable(String why) {
        failure.compareAndSet(null, why);
    }

    /** Why the device context is unusable, or empty while it works. */
    Optional<String> failure() {
        return Optional.ofNullable(failure.get());
    }
}
