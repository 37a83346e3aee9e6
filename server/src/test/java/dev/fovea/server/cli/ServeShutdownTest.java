package dev.fovea.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.server.Drained;
import dev.fovea.server.EndlessStream;
import dev.fovea.v1.StreamPredictRequest;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** SIGTERM to a real {@code fovea serve} while sixteen streams keep sending. */
class ServeShutdownTest {

    private static final int STREAMS_PER_API = 8;
    private static final int ANSWERS_BEFORE_SIGTERM = 2;

    @Test
    void sigtermDrainsEveryStreamThenExitsZero() throws Exception {
        try (ServeProcess serve = ServeProcess.start("--shutdown-grace-seconds", "120")) {
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", serve.port()).usePlaintext().build();
            try {
                List<EndlessStream<StreamPredictRequest, StreamPredictResponse>> predicts = new ArrayList<>();
                List<EndlessStream<ModelInferRequest, ModelStreamInferResponse>> infers = new ArrayList<>();
                for (int i = 0; i < STREAMS_PER_API; i++) {
                    predicts.add(EndlessStream.streamPredict(channel, "cnn", ANSWERS_BEFORE_SIGTERM));
                    infers.add(EndlessStream.modelStreamInfer(channel, "cnn", ANSWERS_BEFORE_SIGTERM));
                }
                for (int i = 0; i < STREAMS_PER_API; i++) {
                    predicts.get(i).awaitAnswers();
                    infers.get(i).awaitAnswers();
                }

                serve.process().destroy(); // SIGTERM

                int sent = 0;
                int answered = 0;
                for (int i = 0; i < STREAMS_PER_API; i++) {
                    answered += Drained.streamPredict(predicts.get(i)) + Drained.modelStreamInfer(infers.get(i));
                    sent += predicts.get(i).sent() - 1 + infers.get(i).sent();
                }
                int exitCode = serve.process().waitFor();
                System.out.printf("ServeShutdownTest: %d streams, %d frames sent, %d answered, exit code %d%n",
                        2 * STREAMS_PER_API, sent, answered, exitCode);
                assertEquals(0, exitCode, serve.log());
                assertTrue(serve.log().contains("fovea: stopped"), serve.log());
            } finally {
                channel.shutdownNow();
            }
        }
    }
}
