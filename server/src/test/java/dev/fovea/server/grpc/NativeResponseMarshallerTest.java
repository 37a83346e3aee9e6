package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.Result;
import io.grpc.Drainable;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Responses viewing native memory are written from it, and that memory is freed once, when the transport is done. */
class NativeResponseMarshallerTest {

    private final NativeResponseMarshaller<PredictResponse> marshaller =
            new NativeResponseMarshaller<>(PredictResponse.getDefaultInstance());

    private static PredictResponse viewing(MemorySegment bytes) {
        return PredictResponse.newBuilder().setModel("raw").addResults(Result.newBuilder()
                .addOutputs(RawTensor.newBuilder().setData(UnsafeByteOperations.unsafeWrap(bytes.asByteBuffer()))))
                .build();
    }

    @Test
    void drainingWritesTheNativeBytesAndClosingFreesThem() throws Exception {
        Arena memory = Arena.ofShared();
        MemorySegment output = memory.allocate(1000).fill((byte) 7);
        PredictResponse response = marshaller.attach(viewing(output), memory::close);
        InputStream stream = marshaller.stream(response);
        assertInstanceOf(Drainable.class, stream);
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        assertEquals(response.getSerializedSize(), ((Drainable) stream).drainTo(wire));
        assertTrue(memory.scope().isAlive(), "the memory lives until the transport closes the stream");
        stream.close();
        assertFalse(memory.scope().isAlive());
        PredictResponse received = PredictResponse.parseFrom(wire.toByteArray());
        assertEquals(1000, received.getResults(0).getOutputs(0).getData().size());
        assertEquals(7, received.getResults(0).getOutputs(0).getData().byteAt(999));
        stream.close();
    }

    @Test
    void transportsThatReadInsteadOfDrainGetTheSameBytes() throws Exception {
        Arena memory = Arena.ofShared();
        MemorySegment output = memory.allocate(300).fill((byte) 3);
        PredictResponse response = marshaller.attach(viewing(output), memory::close);
        try (InputStream stream = marshaller.stream(response)) {
            assertEquals(response, marshaller.parse(stream));
        }
        assertFalse(memory.scope().isAlive());
    }

    @Test
    void aMessageThatIsNeverSentIsFreedWhenDiscarded() {
        Arena memory = Arena.ofShared();
        PredictResponse response = marshaller.attach(viewing(memory.allocate(8)), memory::close);
        marshaller.discard(response);
        assertFalse(memory.scope().isAlive());
        marshaller.discard(response);
    }

    @Test
    void discardingAfterTheSendLeavesTheMemoryToTheStream() throws Exception {
        Arena memory = Arena.ofShared();
        PredictResponse response = marshaller.attach(viewing(memory.allocate(8)), memory::close);
        InputStream stream = marshaller.stream(response);
        marshaller.discard(response);
        assertTrue(memory.scope().isAlive());
        stream.close();
        assertFalse(memory.scope().isAlive());
    }
}
