package dev.fovea.server.grpc;

import com.google.protobuf.Message;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A generated service definition with some of its methods re-bound to native marshallers: requests parsed into
 * native memory ({@link NativeMessageMarshaller}) and responses written from it ({@link NativeResponseMarshaller}).
 * Unary methods also free requests whose call ended before the handler took them.
 */
final class NativeMethods {

    private final ServerServiceDefinition generated;
    private final Map<String, ServerMethodDefinition<?, ?>> rebound = new HashMap<>();

    NativeMethods(ServerServiceDefinition generated) {
        this.generated = generated;
    }

    @SuppressWarnings("unchecked")
    <Q extends Message, R extends Message> NativeMethods rebind(MethodDescriptor<Q, R> method,
            NativeMessageMarshaller<Q> requests, NativeResponseMarshaller<R> responses) {
        var bound = (ServerMethodDefinition<Q, R>) generated.getMethod(method.getFullMethodName());
        ServerCallHandler<Q, R> handler = method.getType() == MethodDescriptor.MethodType.UNARY
                ? requests.releasingUntaken(bound.getServerCallHandler()) : bound.getServerCallHandler();
        rebound.put(method.getFullMethodName(), ServerMethodDefinition.create(
                bound.getMethodDescriptor().toBuilder(requests, responses).build(), handler));
        return this;
    }

    ServerServiceDefinition build() {
        ServiceDescriptor service = generated.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(service.getName())
                .setSchemaDescriptor(service.getSchemaDescriptor());
        Map<String, ServerMethodDefinition<?, ?>> methods = new LinkedHashMap<>();
        for (ServerMethodDefinition<?, ?> method : generated.getMethods()) {
            String name = method.getMethodDescriptor().getFullMethodName();
            ServerMethodDefinition<?, ?> bound = rebound.getOrDefault(name, method);
            descriptor.addMethod(bound.getMethodDescriptor());
            methods.put(name, bound);
        }
        ServerServiceDefinition.Builder definition = ServerServiceDefinition.builder(descriptor.build());
        methods.values().forEach(definition::addMethod);
        return definition.build();
    }
}
