package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.server.Drained;
import dev.fovea.server.EndlessStream;
import dev.fovea.server.FoveaServer;
import dev.fovea.server.TestServer;
import dev.fovea.server.metrics.ModelStatistics;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.junit.jupiter.api.Test;

/** Stopping the server while clients keep calling, over real Netty on loopback. */
class ShutdownTest {

    private static final int STREAMS_PER_API = 6;
    private static final int ANSWERS_BEFORE_STOP = 3;

    @Test
    void stopAnswersEveryAcceptedFrameThenEndsEachStreamWithUnavailable() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(64, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics).callThreads(4)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
            List<EndlessStream<StreamPredictRequest, StreamPredictResponse>> predicts = new ArrayList<>();
            List<EndlessStream<ModelInferRequest, ModelStreamInferResponse>> infers = new ArrayList<>();
            for (int i = 0; i < STREAMS_PER_API; i++) {
                predicts.add(EndlessStream.streamPredict(channel, "cnn", ANSWERS_BEFORE_STOP));
                infers.add(EndlessStream.modelStreamInfer(channel, "cnn", ANSWERS_BEFORE_STOP));
            }
            for (int i = 0; i < STREAMS_PER_API; i++) {
                predicts.get(i).awaitAnswers();
                infers.get(i).awaitAnswers();
            }

            assertTrue(server.stop(60_000), "every stream drained within the grace");

            int answered = 0;
            for (int i = 0; i < STREAMS_PER_API; i++) {
                answered += Drained.streamPredict(predicts.get(i));
                answered += Drained.modelStreamInfer(infers.get(i));
            }
            ModelStatistics.Snapshot cnn = metrics.statistics("cnn");
            assertEquals(0, cnn.fail().count(), "no accepted frame failed or was cancelled");
            assertEquals(cnn.success().count(), answered, "every frame the server ran was answered");
            assertEquals(0, server.openStreams());
        } finally {
            channel.shutdownNow();
            server.stop(5_000);
        }
    }

    @Test
    void healthTurnsNotServingAtOnceAndAnOpenWatchDoesNotHoldTheServer() throws Exception {
        ServerMetrics metrics = new ServerMetrics(new PrometheusRegistry());
        ModelRepository repository =
                ModelRepository.open(TestServer.repositoryPath(), new ModelRepository.Options(64, 2, metrics));
        FoveaServer server = FoveaServer.builder(repository, metrics).callThreads(4)
                .listener(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
            BlockingQueue<Object> watched = new LinkedBlockingQueue<>();
            HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(), new StreamObserver<>() {
                @Override
                public void onNext(HealthCheckResponse response) {
                    watched.add(response.getStatus());
                }

                @Override
                public void onError(Throwable t) {
                    watched.add(Status.fromThrowable(t).getCode());
                }

                @Override
                public void onCompleted() {
                    watched.add("completed");
                }
            });
            assertEquals(ServingStatus.SERVING, watched.take());

            assertTrue(server.stop(60_000), "the server stopped without waiting out the grace for the watch");

            assertEquals(ServingStatus.NOT_SERVING, watched.take());
            // Cut once inference calls are over: the transport resets the stream, which the client reads as CANCELLED.
            assertEquals(Status.Code.CANCELLED, watched.take());
        } finally {
            channel.shutdownNow();
            server.stop(5_000);
        }
    }
}
