package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.Message;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.grpc.LenientMarshaller.Received;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.StreamPredictRequest;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.Status;
import io.grpc.internal.ReadableBuffers;
import io.grpc.protobuf.ProtoUtils;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * Fuzzes the request marshallers with arbitrary bytes, as Netty hands them over (a detachable stream of direct
 * buffers), for the three messages parsed into native memory. Every input must come out as a message or as an
 * INVALID_ARGUMENT, never an exception; a message parsed in native memory must equal protobuf's own heap parse of the
 * same bytes (aliasing changes where bytes live, not what they say), and its memory must be freed.
 *
 * <p>The first byte picks the message; seeds ({@code RequestMarshallerFuzzTestInputs/parseNeverThrows}) are valid
 * requests of each and a few known-bad ones.
 */
class RequestMarshallerFuzzTest {

    private record Target<T extends Message>(NativeMessageMarshaller<T> parsed, LenientMarshaller<T> lenient,
            Marshaller<T> heap) {
        static <T extends Message> Target<T> of(T prototype) {
            NativeMessageMarshaller<T> parsed = new NativeMessageMarshaller<>(prototype);
            return new Target<>(parsed,
                    new LenientMarshaller<>(parsed, prototype.getDescriptorForType().getFullName()),
                    ProtoUtils.marshallerWithRecursionLimit(prototype, NativeMethods.REQUEST_NESTING_LIMIT));
        }
    }

    private static final List<Target<?>> TARGETS = List.of(Target.of(PredictRequest.getDefaultInstance()),
            Target.of(StreamPredictRequest.getDefaultInstance()), Target.of(ModelInferRequest.getDefaultInstance()));

    @FuzzTest
    void parseNeverThrows(byte[] input) {
        if (input.length == 0) {
            return;
        }
        check(TARGETS.get(Math.floorMod(input[0], TARGETS.size())), Arrays.copyOfRange(input, 1, input.length));
    }

    private static <T extends Message> void check(Target<T> target, byte[] bytes) {
        Received<T> received = target.lenient().parse(transportStream(bytes));
        T heap;
        try {
            heap = target.heap().parse(ReadableBuffers.openStream(ReadableBuffers.wrap(bytes), true));
        } catch (RuntimeException e) {
            heap = null;
        }
        if (received.failure() != null) {
            assertEquals(Status.Code.INVALID_ARGUMENT, received.failure().getCode(), received.failure()::toString);
            assertEquals(null, heap, "the heap parser accepted what the native one refused");
            return;
        }
        T message = received.message();
        NativeMessageMarshaller.NativeMessage memory = target.parsed().takeMemory(message);
        try {
            assertNotNull(memory, "no native memory behind a message from Netty");
            assertNotNull(heap, "the native parser accepted what the heap one refused");
            assertEquals(heap, message);
        } finally {
            if (memory != null) {
                memory.arena().close();
            }
        }
    }

    /** The bytes as Netty delivers a message: a known-length, detachable stream over a direct buffer. */
    private static InputStream transportStream(byte[] bytes) {
        ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        return ReadableBuffers.openStream(ReadableBuffers.wrap(direct), true);
    }
}
