package dev.fovea.server.http;

import io.grpc.Status;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * The one place where failures become HTTP status codes. Every failure of the shared service is a gRPC status (see
 * {@code grpc.Statuses}); this maps its code the way Triton's HTTP server maps its error codes: bad input 400, unknown
 * model or route 404, a missing token 401, a caller not allowed (shared memory over TCP) 403, not serving or a full
 * queue 503 (Triton reports a full queue as UNAVAILABLE, so clients retry it like any 503), unimplemented 501,
 * anything else 500. The body is always {@code {"error": "..."}}.
 */
final class HttpErrors {

    private HttpErrors() {}

    static HttpResponseStatus of(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, CANCELLED ->
                    HttpResponseStatus.BAD_REQUEST;
            case NOT_FOUND -> HttpResponseStatus.NOT_FOUND;
            case UNAUTHENTICATED -> HttpResponseStatus.UNAUTHORIZED;
            case PERMISSION_DENIED -> HttpResponseStatus.FORBIDDEN;
            case UNAVAILABLE, RESOURCE_EXHAUSTED -> HttpResponseStatus.SERVICE_UNAVAILABLE;
            case DEADLINE_EXCEEDED -> HttpResponseStatus.GATEWAY_TIMEOUT;
            case UNIMPLEMENTED -> HttpResponseStatus.NOT_IMPLEMENTED;
            default -> HttpResponseStatus.INTERNAL_SERVER_ERROR;
        };
    }

    /** A client mistake found by the HTTP layer itself (bad JSON, a bad binary layout): 400 with this message. */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message, null, false, false);
        }
    }
}
