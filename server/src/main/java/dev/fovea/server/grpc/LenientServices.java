package dev.fovea.server.grpc;

import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;

/**
 * Other protobuf services the server hosts (health, reflection) with the same handling of unparseable requests as
 * Fovea's own: INVALID_ARGUMENT and a throttled line instead of UNKNOWN and a stack trace per call.
 */
public final class LenientServices {

    private LenientServices() {}

    /** {@code service}'s definition with every request parsed by a {@link LenientMarshaller}. */
    public static ServerServiceDefinition of(BindableService service) {
        return new NativeMethods(service.bindService()).build();
    }
}
