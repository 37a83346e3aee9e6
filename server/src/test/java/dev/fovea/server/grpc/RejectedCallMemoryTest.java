package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.fovea.server.security.BearerAuthInterceptor;
import dev.fovea.server.security.BearerTokens;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The token check refuses a call before its handler runs, and the handler is what frees requests parsed into native
 * memory. So the refusal must leave the requests unparsed (it never asks gRPC for a message); otherwise every
 * unauthenticated request would leak its size in native memory. (Checked: a refusal that calls request(2) leaves
 * parsed requests behind and fails this test.)
 */
class RejectedCallMemoryTest {

    private final NativeMessageMarshaller<PredictRequest> predictRequests =
            new NativeMessageMarshaller<>(PredictRequest.getDefaultInstance());
    private final NativeMessageMarshaller<StreamPredictRequest> streamRequests =
            new NativeMessageMarshaller<>(StreamPredictRequest.getDefaultInstance());
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        ServerServiceDefinition generated = ServerServiceDefinition.builder(InferenceServiceGrpc.SERVICE_NAME)
                .addMethod(InferenceServiceGrpc.getPredictMethod(),
                        ServerCalls.<PredictRequest, PredictResponse>asyncUnaryCall((request, responses) -> {
                            throw new AssertionError("the handler of a refused call ran");
                        }))
                .addMethod(InferenceServiceGrpc.getStreamPredictMethod(),
                        ServerCalls.<StreamPredictRequest, StreamPredictResponse>asyncBidiStreamingCall(responses -> {
                            throw new AssertionError("the handler of a refused call ran");
                        }))
                .build();
        ServerServiceDefinition service = new NativeMethods(generated)
                .rebind(InferenceServiceGrpc.getPredictMethod(), predictRequests,
                        new NativeResponseMarshaller<>(PredictResponse.getDefaultInstance()))
                .rebind(InferenceServiceGrpc.getStreamPredictMethod(), streamRequests,
                        new NativeResponseMarshaller<>(StreamPredictResponse.getDefaultInstance()))
                .build();
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(service)
                .intercept(new BearerAuthInterceptor(BearerTokens.of("memory-token"), Set.of(), false))
                .directExecutor().build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static Image image() {
        return Image.newBuilder().setEncoded(EncodedImage.newBuilder()
                .setData(ByteString.copyFrom(new byte[256 * 1024]))).build();
    }

    /** Messages parsed into native memory and not yet taken or released, read from the marshaller's ledger. */
    private static int held(NativeMessageMarshaller<?> marshaller) throws ReflectiveOperationException {
        Field parsed = NativeMessageMarshaller.class.getDeclaredField("parsed");
        parsed.setAccessible(true);
        return ((Map<?, ?>) parsed.get(marshaller)).size();
    }

    @Test
    void aRefusedUnaryRequestLeavesNoNativeMemory() throws Exception {
        for (int i = 0; i < 20; i++) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> InferenceServiceGrpc
                    .newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .predict(PredictRequest.newBuilder().setModel("cnn").addImages(image()).build()));
            assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
        }
        server.shutdown().awaitTermination(30, TimeUnit.SECONDS);

        assertEquals(0, held(predictRequests));
    }

    @Test
    void aRefusedStreamsFramesLeaveNoNativeMemory() throws Exception {
        CompletableFuture<Status> ended = new CompletableFuture<>();
        StreamObserver<StreamPredictRequest> frames = InferenceServiceGrpc.newStub(channel)
                .withDeadlineAfter(30, TimeUnit.SECONDS).streamPredict(new StreamObserver<>() {
                    @Override
                    public void onNext(StreamPredictResponse response) {}

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(Status.OK);
                    }
                });
        for (int i = 0; i < 20; i++) {
            frames.onNext(StreamPredictRequest.newBuilder().setFrame(dev.fovea.v1.Frame.newBuilder()
                    .setFrameId(i).setImage(image())).build());
        }
        frames.onCompleted();
        assertEquals(Status.Code.UNAUTHENTICATED, ended.get().getCode());
        server.shutdown().awaitTermination(30, TimeUnit.SECONDS);

        assertEquals(0, held(streamRequests));
    }
}
