package dev.fovea.server.grpc;

import com.google.protobuf.Message;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor.PrototypeMarshaller;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Writes responses whose {@code bytes} fields view native output memory (wrapped with
 * {@code UnsafeByteOperations.unsafeWrap}), so raw outputs travel from tensor memory into the transport's buffers with
 * no heap copy, and frees that memory once the transport is done with the message.
 *
 * <p>Ownership: {@link #attach} hands the memory behind a message to this marshaller. When gRPC sends the message it
 * asks for a stream, which takes the memory over; the transport closes the stream after writing it (Netty drains it
 * into its direct buffers) or after parsing it (in-process), and closing frees the memory. A message that will never
 * be sent (the call ended first) must be {@link #discard}ed. Messages nothing was attached to take protobuf's
 * ordinary path.
 */
final class NativeResponseMarshaller<T extends Message> implements PrototypeMarshaller<T> {

    private final PrototypeMarshaller<T> ordinary;
    private final Map<T, AutoCloseable> owners = Collections.synchronizedMap(new IdentityHashMap<>());

    @SuppressWarnings("unchecked")
    NativeResponseMarshaller(T prototype) {
        this.ordinary = (PrototypeMarshaller<T>) ProtoUtils.marshaller(prototype);
    }

    /** Hands over {@code memory}, which {@code message}'s bytes view, to be freed once the message is written. */
    T attach(T message, AutoCloseable memory) {
        owners.put(message, memory);
        return message;
    }

    /** Frees the memory of a message that will not be sent; harmless for a message already sent. */
    void discard(T message) {
        closeQuietly(owners.remove(message));
    }

    /**
     * Sends {@code message} on {@code responses}; when {@code memory} is not null the message's bytes view it and it
     * is freed once the transport has written the message, or at once if the call has ended. The one way both
     * services and their streams send results.
     */
    void send(StreamObserver<T> responses, T message, AutoCloseable memory) {
        if (memory == null) {
            responses.onNext(message);
            return;
        }
        attach(message, memory);
        try {
            responses.onNext(message);
        } finally {
            // gRPC streams the message inside onNext; if it did not (the call had ended), this frees the memory.
            discard(message);
        }
    }

    @Override
    public Class<T> getMessageClass() {
        return ordinary.getMessageClass();
    }

    @Override
    public T getMessagePrototype() {
        return ordinary.getMessagePrototype();
    }

    @Override
    public InputStream stream(T value) {
        AutoCloseable memory = owners.remove(value);
        return memory == null ? ordinary.stream(value) : new OwningStream<>(value, memory);
    }

    @Override
    public T parse(InputStream stream) {
        return ordinary.parse(stream);
    }

    private static void closeQuietly(AutoCloseable memory) {
        if (memory == null) {
            return;
        }
        try {
            memory.close();
        } catch (Exception e) {
            throw new IllegalStateException("could not free a response's native memory", e);
        }
    }

    /** A message's serialized form, written straight from the message, that frees the message's memory on close. */
    private static final class OwningStream<T extends Message> extends InputStream implements Drainable, KnownLength {

        private final T message;
        private AutoCloseable memory;
        private boolean drained;
        /** Made only for transports that read instead of drain (in-process); null until then. */
        private ByteArrayInputStream copy;

        OwningStream(T message, AutoCloseable memory) {
            this.message = message;
            this.memory = memory;
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            if (drained || copy != null) {
                throw new IllegalStateException("the message was already read");
            }
            drained = true;
            int size = message.getSerializedSize();
            message.writeTo(target);
            return size;
        }

        @Override
        public int available() {
            if (copy != null) {
                return copy.available();
            }
            return drained ? 0 : message.getSerializedSize();
        }

        @Override
        public int read() {
            return heapCopy().read();
        }

        @Override
        public int read(byte[] buffer, int offset, int length) {
            return heapCopy().read(buffer, offset, length);
        }

        private ByteArrayInputStream heapCopy() {
            if (copy == null) {
                copy = new ByteArrayInputStream(drained ? new byte[0] : message.toByteArray());
                drained = true;
            }
            return copy;
        }

        @Override
        public void close() {
            AutoCloseable owned = memory;
            memory = null;
            closeQuietly(owned);
        }
    }
}
