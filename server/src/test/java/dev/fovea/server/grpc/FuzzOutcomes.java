package dev.fovea.server.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.EnumSet;
import java.util.Set;

/**
 * What a fuzzed request may get back: success or a status that blames the request. Anything else (INTERNAL, UNKNOWN,
 * a deadline, an exception that is not a status) is a finding.
 */
final class FuzzOutcomes {

    private static final Set<Status.Code> CLIENT_FAULTS = EnumSet.of(Status.Code.INVALID_ARGUMENT,
            Status.Code.NOT_FOUND, Status.Code.RESOURCE_EXHAUSTED, Status.Code.FAILED_PRECONDITION);

    private FuzzOutcomes() {}

    /** Runs {@code call} and throws an AssertionError unless it succeeds or fails with a client-fault status. */
    static void expectClientFaultAtWorst(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            Status status = e.getStatus();
            if (!CLIENT_FAULTS.contains(status.getCode()) && !isFailedModel(status)) {
                throw new AssertionError("a request got " + status, e);
            }
        }
    }

    /** The test repository holds a model that fails to load on purpose: naming it is UNAVAILABLE, as documented. */
    private static boolean isFailedModel(Status status) {
        return status.getCode() == Status.Code.UNAVAILABLE && status.getDescription() != null
                && status.getDescription().startsWith("model 'broken' is not serving");
    }
}
