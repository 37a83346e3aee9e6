package dev.fovea.server.grpc;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Detachable;
import io.grpc.ForwardingServerCallListener;
import io.grpc.HasByteBuffer;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor.PrototypeMarshaller;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses request messages into native memory instead of the heap. When the transport hands over a detachable stream
 * of its own direct buffers (Netty), the message's bytes are copied once, off-heap to off-heap, into a native
 * segment, the transport's buffers go straight back to Netty, and the message is parsed from that segment with
 * aliasing on: every {@code bytes} field (an image, a tensor) is a view of the segment, which the native layer then
 * reads in place. Other transports (in-process) take protobuf's ordinary path.
 *
 * <p>Ownership: the segment's arena belongs to the message until {@link #takeMemory} hands it to the caller (the
 * service, which gives it to the request and so to the model runner, which closes it once the request has run or
 * been dropped). A message nobody takes memory from must be {@link #release}d.
 */
final class NativeMessageMarshaller<T extends Message> implements PrototypeMarshaller<T> {

    /** A message's native copy: the arena that owns it and the segment holding the serialized message. */
    record NativeMessage(Arena arena, MemorySegment bytes) {
        /** The part of this message's segment that {@code view} covers, or null if it lies elsewhere. */
        MemorySegment sliceOf(ByteBuffer view) {
            if (!view.isDirect()) {
                return null;
            }
            long offset = MemorySegment.ofBuffer(view).address() - bytes.address();
            return offset >= 0 && offset + view.remaining() <= bytes.byteSize()
                    ? bytes.asSlice(offset, view.remaining()) : null;
        }
    }

    private final PrototypeMarshaller<T> ordinary;
    private final Parser<T> parser;
    private final Map<T, NativeMessage> parsed = Collections.synchronizedMap(new IdentityHashMap<>());

    @SuppressWarnings("unchecked")
    NativeMessageMarshaller(T prototype) {
        this.ordinary = (PrototypeMarshaller<T>) ProtoUtils.marshallerWithRecursionLimit(prototype,
                NativeMethods.REQUEST_NESTING_LIMIT);
        this.parser = (Parser<T>) prototype.getParserForType();
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
        return ordinary.stream(value);
    }

    @Override
    public T parse(InputStream stream) {
        if (!(stream instanceof KnownLength && stream instanceof Detachable)) {
            return ordinary.parse(stream);
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment bytes;
            try (InputStream transport = ((Detachable) stream).detach()) {
                bytes = arena.allocate(transport.available(), 16);
                copy(transport, bytes.asByteBuffer());
            }
            CodedInputStream input = UnsafeByteOperations.unsafeWrap(bytes.asByteBuffer()).newCodedInput();
            input.enableAliasing(true);
            input.setSizeLimit(Integer.MAX_VALUE);
            input.setRecursionLimit(NativeMethods.REQUEST_NESTING_LIMIT);
            T message = parser.parseFrom(input);
            input.checkLastTagWas(0);
            parsed.put(message, new NativeMessage(arena, bytes));
            return message;
        } catch (InvalidProtocolBufferException e) {
            arena.close();
            throw Status.INVALID_ARGUMENT.withDescription("the request is not a valid "
                    + getMessageClass().getSimpleName() + ": " + e.getMessage()).withCause(e).asRuntimeException();
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw Status.INTERNAL.withDescription("could not read the request: " + e).withCause(e)
                    .asRuntimeException();
        }
    }

    /** A chunk for transports whose buffers cannot be read as ByteBuffers; reused, so nothing is allocated. */
    private static final ThreadLocal<byte[]> CHUNK = ThreadLocal.withInitial(() -> new byte[64 * 1024]);

    /** Copies everything {@code transport} holds into {@code target}, a view of native memory, consuming it. */
    private static void copy(InputStream transport, ByteBuffer target) throws IOException {
        if (transport instanceof HasByteBuffer buffers && buffers.byteBufferSupported()) {
            while (transport.available() != 0) {
                ByteBuffer piece = buffers.getByteBuffer();
                int length = piece.remaining();
                target.put(piece);
                transport.skip(length);
            }
            return;
        }
        // Netty hands some messages over as composite buffers with several NIO views: read them through a fixed
        // chunk instead, still without allocating in proportion to the message.
        byte[] chunk = CHUNK.get();
        int read;
        while ((read = transport.read(chunk, 0, Math.min(chunk.length, target.remaining()))) > 0) {
            target.put(chunk, 0, read);
        }
    }

    /**
     * The native copy {@code message} was parsed into, now owned by the caller, or null if it was parsed on the
     * heap. The message's bytes fields stay valid until the caller closes the arena.
     */
    NativeMessage takeMemory(T message) {
        return parsed.remove(message);
    }

    /**
     * {@code handler} for a unary method, freeing the native copy of every message the call received but its handler
     * never took: gRPC parses a unary request when it arrives but runs the handler only at half-close, so a call
     * cancelled in between (or sent a second message) would otherwise keep that memory forever.
     */
    <R> ServerCallHandler<T, R> releasingUntaken(ServerCallHandler<T, R> handler) {
        return (call, headers) -> new ForwardingServerCallListener.SimpleForwardingServerCallListener<T>(
                handler.startCall(call, headers)) {
            /** gRPC delivers a call's listener events one at a time, so no lock is needed. */
            private final List<T> received = new ArrayList<>(1);

            @Override
            public void onMessage(T message) {
                received.add(message);
                super.onMessage(message);
            }

            @Override
            public void onCancel() {
                try {
                    super.onCancel();
                } finally {
                    received.forEach(NativeMessageMarshaller.this::release);
                }
            }

            @Override
            public void onComplete() {
                try {
                    super.onComplete();
                } finally {
                    received.forEach(NativeMessageMarshaller.this::release);
                }
            }
        };
    }

    /** Frees the native copy of a message whose memory nobody took. */
    void release(T message) {
        NativeMessage memory = parsed.remove(message);
        if (memory != null) {
            memory.arena().close();
        }
    }
}
