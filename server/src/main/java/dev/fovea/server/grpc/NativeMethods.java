package dev.fovea.server.grpc;

import com.google.protobuf.Message;
import dev.fovea.server.grpc.LenientMarshaller.Received;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.MethodDescriptor.PrototypeMarshaller;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A generated service definition with every method re-bound for the wire. Every request is parsed by a
 * {@link LenientMarshaller} within {@link #REQUEST_NESTING_LIMIT}, so a message that cannot be parsed is answered
 * INVALID_ARGUMENT by {@link ParseCheckedCalls} instead of escaping into gRPC as an exception. Some methods' requests
 * are parsed into native memory ({@link NativeMessageMarshaller}) and their responses written from it
 * ({@link NativeResponseMarshaller}); those that are unary also free requests whose call ended before the handler
 * took them.
 */
final class NativeMethods {

    /**
     * How deep protobuf may nest while parsing a request. The deepest request of either service, a StreamPredictRequest
     * frame, nests messages 4 levels below itself (RequestNestingLimitTest keeps every request under half this);
     * protobuf's default of 100 would let every garbage message make the parser recurse 100 levels before it is
     * refused.
     */
    static final int REQUEST_NESTING_LIMIT = 16;

    private record Native<Q extends Message, R extends Message>(NativeMessageMarshaller<Q> requests,
            NativeResponseMarshaller<R> responses) {}

    private final ServerServiceDefinition generated;
    private final Map<String, Native<?, ?>> natives = new HashMap<>();

    NativeMethods(ServerServiceDefinition generated) {
        this.generated = generated;
    }

    <Q extends Message, R extends Message> NativeMethods rebind(MethodDescriptor<Q, R> method,
            NativeMessageMarshaller<Q> requests, NativeResponseMarshaller<R> responses) {
        natives.put(method.getFullMethodName(), new Native<>(requests, responses));
        return this;
    }

    ServerServiceDefinition build() {
        ServiceDescriptor service = generated.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(service.getName())
                .setSchemaDescriptor(service.getSchemaDescriptor());
        Map<String, ServerMethodDefinition<?, ?>> methods = new LinkedHashMap<>();
        for (ServerMethodDefinition<?, ?> method : generated.getMethods()) {
            @SuppressWarnings("unchecked") // generated services take and return protobuf messages
            ServerMethodDefinition<?, ?> bound =
                    bind((ServerMethodDefinition<? extends Message, ? extends Message>) method);
            descriptor.addMethod(bound.getMethodDescriptor());
            methods.put(method.getMethodDescriptor().getFullMethodName(), bound);
        }
        ServerServiceDefinition.Builder definition = ServerServiceDefinition.builder(descriptor.build());
        methods.values().forEach(definition::addMethod);
        return definition.build();
    }

    /** Generated stubs bind protobuf messages with prototype marshallers; the casts rely on that. */
    @SuppressWarnings("unchecked")
    private <Q extends Message, R extends Message> ServerMethodDefinition<Received<Q>, R> bind(
            ServerMethodDefinition<Q, R> generatedMethod) {
        MethodDescriptor<Q, R> method = generatedMethod.getMethodDescriptor();
        ServerCallHandler<Q, R> handler = generatedMethod.getServerCallHandler();
        Q prototype = ((PrototypeMarshaller<Q>) method.getRequestMarshaller()).getMessagePrototype();
        Native<Q, R> nativeMethod = (Native<Q, R>) natives.get(method.getFullMethodName());
        Marshaller<Q> requests;
        Marshaller<R> responses;
        Consumer<Q> discard;
        if (nativeMethod == null) {
            requests = ProtoUtils.marshallerWithRecursionLimit(prototype, REQUEST_NESTING_LIMIT);
            responses = method.getResponseMarshaller();
            discard = message -> {};
        } else {
            requests = nativeMethod.requests();
            responses = nativeMethod.responses();
            discard = nativeMethod.requests()::release;
            if (method.getType() == MethodDescriptor.MethodType.UNARY) {
                handler = nativeMethod.requests().releasingUntaken(handler);
            }
        }
        MethodDescriptor<Received<Q>, R> wire = method.toBuilder(
                new LenientMarshaller<>(requests, prototype.getDescriptorForType().getFullName()), responses).build();
        return ServerMethodDefinition.create(wire, ParseCheckedCalls.handler(method, handler, discard));
    }
}
