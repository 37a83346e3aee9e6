package dev.fovea.server.grpc;

import dev.fovea.server.grpc.LenientMarshaller.Received;
import dev.fovea.server.limits.ThrottledLog;
import io.grpc.Attributes;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.SecurityLevel;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Answers the requests that {@link LenientMarshaller} could not parse. The call is closed with the marshaller's status
 * (INVALID_ARGUMENT naming the message type) and the service sees a cancelled call, so it frees what it holds exactly
 * as when a client goes away. Any message can be the bad one: a unary call's request, or one in the middle of a
 * stream, which ends that stream. Whatever arrives after it is dropped. However many bad messages arrive, the log gets
 * one line per {@link #LOG_INTERVAL}.
 */
final class ParseCheckedCalls {

    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    private static final ThrottledLog log =
            new ThrottledLog(Logger.getLogger(ParseCheckedCalls.class.getName()), LOG_INTERVAL);

    private ParseCheckedCalls() {}

    /**
     * {@code service}'s handler for {@code method}, taking messages as {@link LenientMarshaller} delivers them.
     * {@code discard} frees a parsed message that arrives after the call was refused (one parsed into native memory).
     */
    static <Q, R> ServerCallHandler<Received<Q>, R> handler(MethodDescriptor<Q, R> method,
            ServerCallHandler<Q, R> service, Consumer<Q> discard) {
        return (call, headers) -> {
            CheckedCall<Q, R> checked = new CheckedCall<>(call, method);
            return new CheckedListener<>(checked, service.startCall(checked, headers), discard);
        };
    }

    /**
     * The call as the service sees it. Once refused, it is cancelled to the service and ignores the service's sends
     * and close. The service calls it from its own threads while the listener may refuse it from gRPC's, so every
     * method that reaches the transport's call runs under {@code this} lock (never held while calling the service).
     */
    private static final class CheckedCall<Q, R> extends ServerCall<Q, R> {
        private final ServerCall<Received<Q>, R> transport;
        private final MethodDescriptor<Q, R> method;
        private boolean closed;
        private boolean refused;

        CheckedCall(ServerCall<Received<Q>, R> transport, MethodDescriptor<Q, R> method) {
            this.transport = transport;
            this.method = method;
        }

        /** Closes the call with {@code status}; false if it was already closed (by the service or a refusal). */
        synchronized boolean refuse(Status status) {
            if (closed) {
                return false;
            }
            closed = true;
            refused = true;
            transport.close(status, new Metadata());
            return true;
        }

        @Override
        public synchronized void request(int numMessages) {
            if (!closed) {
                transport.request(numMessages);
            }
        }

        @Override
        public synchronized void sendHeaders(Metadata headers) {
            if (!refused) {
                transport.sendHeaders(headers);
            }
        }

        @Override
        public synchronized void sendMessage(R message) {
            if (!refused) {
                transport.sendMessage(message);
            }
        }

        @Override
        public synchronized void close(Status status, Metadata trailers) {
            if (!refused) {
                closed = true;
                transport.close(status, trailers);
            }
        }

        @Override
        public synchronized boolean isCancelled() {
            return refused || transport.isCancelled();
        }

        @Override
        public synchronized boolean isReady() {
            return !refused && transport.isReady();
        }

        @Override
        public synchronized void setMessageCompression(boolean enabled) {
            transport.setMessageCompression(enabled);
        }

        @Override
        public synchronized void setCompression(String compressor) {
            transport.setCompression(compressor);
        }

        @Override
        public synchronized void setOnReadyThreshold(int numBytes) {
            transport.setOnReadyThreshold(numBytes);
        }

        @Override
        public Attributes getAttributes() {
            return transport.getAttributes();
        }

        @Override
        public String getAuthority() {
            return transport.getAuthority();
        }

        @Override
        public SecurityLevel getSecurityLevel() {
            return transport.getSecurityLevel();
        }

        @Override
        public MethodDescriptor<Q, R> getMethodDescriptor() {
            return method;
        }
    }

    /** gRPC delivers a call's listener events one at a time, so its state needs no lock. */
    private static final class CheckedListener<Q, R> extends ServerCall.Listener<Received<Q>> {
        private final CheckedCall<Q, R> call;
        private final ServerCall.Listener<Q> service;
        private final Consumer<Q> discard;
        /** The service was told the call was cancelled: it gets no further events. */
        private boolean serviceDone;

        CheckedListener(CheckedCall<Q, R> call, ServerCall.Listener<Q> service, Consumer<Q> discard) {
            this.call = call;
            this.service = service;
            this.discard = discard;
        }

        @Override
        public void onMessage(Received<Q> received) {
            if (received.failure() == null) {
                if (serviceDone) {
                    discard.accept(received.message());
                } else {
                    service.onMessage(received.message());
                }
                return;
            }
            if (serviceDone || !call.refuse(received.failure())) {
                return;
            }
            log.log(Level.INFO, () -> "refused " + call.getMethodDescriptor().getFullMethodName() + " from "
                    + call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR) + ": "
                    + received.failure().getCode() + " " + received.failure().getDescription());
            serviceDone = true;
            service.onCancel();
        }

        @Override
        public void onHalfClose() {
            if (!serviceDone) {
                service.onHalfClose();
            }
        }

        @Override
        public void onCancel() {
            if (!serviceDone) {
                serviceDone = true;
                service.onCancel();
            }
        }

        @Override
        public void onComplete() {
            if (!serviceDone) {
                serviceDone = true;
                service.onComplete();
            }
        }

        @Override
        public void onReady() {
            if (!serviceDone) {
                service.onReady();
            }
        }
    }
}
