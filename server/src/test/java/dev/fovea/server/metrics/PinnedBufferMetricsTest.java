package dev.fovea.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.v1.DataType;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawTensor;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Each model instance stages through host buffers it keeps: a buffer is allocated for the first batch and reused by
 * every batch that fits, which {@code fovea_pinned_buffer_uses_total} shows (growth: {@code DeviceStagingTest}).
 */
@Timeout(120)
class PinnedBufferMetricsTest {

    @Test
    void stagingBuffersAreAllocatedOnceAndThenReused() throws Exception {
        try (TestServer server = TestServer.start()) {
            // cnn's warm-up at load allocated its top-k buffer; these three batches of one image reuse it.
            Image picture = TestImages.pixels(TestImages.picture(32, 32, 1));
            for (int i = 0; i < 3; i++) {
                server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").addImages(picture).build());
            }
            assertEquals(1, uses(server, "cnn", "allocated"));
            assertEquals(3, uses(server, "cnn", "reused"));

            // A CPU instance stacks raw tensors into each batch's own memory, not a reused buffer: the next batch is
            // staged while this one is in forward, reading its input. Only a CUDA instance stages them through its
            // pinned input buffer (synchronized before the next batch reuses it; CudaServingTest on a GPU).
            Image tensor = Image.newBuilder().setTensor(RawTensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32)
                    .addShape(4).setData(ByteString.copyFrom(new byte[16]))).build();
            server.blocking().predict(PredictRequest.newBuilder().setModel("raw").addImages(tensor).build());
            assertEquals(0, uses(server, "raw", "allocated") + uses(server, "raw", "reused"));
        }
    }

    private static long uses(TestServer server, String model, String result) {
        return server.metrics().registry().scrape().stream()
                .filter(snapshot -> snapshot.getMetadata().getName().equals("fovea_pinned_buffer_uses"))
                .flatMap(snapshot -> ((CounterSnapshot) snapshot).getDataPoints().stream())
                .filter(point -> point.getLabels().equals(Labels.of("model", model, "result", result)))
                .mapToLong(point -> (long) point.getValue()).sum();
    }
}
