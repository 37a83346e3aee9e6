package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.v1.InferenceServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The parser's nesting limit leaves room for every real request and refuses what only garbage needs. */
class RequestNestingLimitTest {

    @Test
    void everyRequestMessageOfBothServicesNestsWellUnderTheLimit() {
        for (ServiceDescriptor service : List.of(InferenceServiceGrpc.getServiceDescriptor(),
                GRPCInferenceServiceGrpc.getServiceDescriptor())) {
            for (MethodDescriptor<?, ?> method : service.getMethods()) {
                Descriptor request = ((Message) ((MethodDescriptor.PrototypeMarshaller<?>) method
                        .getRequestMarshaller()).getMessagePrototype()).getDescriptorForType();
                int depth = depth(request, new HashSet<>());
                assertTrue(depth * 2 <= NativeMethods.REQUEST_NESTING_LIMIT,
                        () -> request.getFullName() + " nests " + depth + " levels");
            }
        }
    }

    /** Levels of messages below {@code message}, map entries counted as protobuf does; huge for a recursive one. */
    private static int depth(Descriptor message, Set<Descriptor> enclosing) {
        if (!enclosing.add(message)) {
            return Integer.MAX_VALUE / 4;
        }
        int deepest = 0;
        for (FieldDescriptor field : message.getFields()) {
            if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                deepest = Math.max(deepest, 1 + depth(field.getMessageType(), enclosing));
            }
        }
        enclosing.remove(message);
        return deepest;
    }
}
