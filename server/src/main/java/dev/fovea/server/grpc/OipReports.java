package dev.fovea.server.grpc;

import dev.fovea.oip.InferBatchStatistics;
import dev.fovea.oip.InferStatistics;
import dev.fovea.oip.ModelMetadataResponse;
import dev.fovea.oip.ModelStatistics;
import dev.fovea.oip.ModelStatisticsResponse;
import dev.fovea.oip.StatisticDuration;
import dev.fovea.server.metrics.ModelStatistics.Duration;
import dev.fovea.server.metrics.ModelStatistics.Snapshot;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.server.repository.ServedModel;
import java.util.ArrayList;
import java.util.List;

/**
 * What the Open Inference Protocol reports about served models, rendered from the model's serving config and the
 * server's statistics: ModelMetadata and ModelStatistics answers (both bindings, gRPC and HTTP, send these).
 */
final class OipReports {

    private OipReports() {}

    /** The model's inputs and outputs, with the batch dimension (-1) first when the model batches. */
    static ModelMetadataResponse metadata(ServedModel model) {
        ModelSpec spec = model.spec();
        ModelMetadataResponse.Builder metadata = ModelMetadataResponse.newBuilder().setName(model.name())
                .addVersions(model.version()).setPlatform(model.servingConfig().getPlatform());
        for (ModelSpec.Tensor input : spec.inputs()) {
            metadata.addInputs(tensor(spec, input));
        }
        for (ModelSpec.Tensor output : spec.outputs()) {
            metadata.addOutputs(tensor(spec, output));
        }
        return metadata.build();
    }

    private static ModelMetadataResponse.TensorMetadata tensor(ModelSpec spec, ModelSpec.Tensor tensor) {
        return ModelMetadataResponse.TensorMetadata.newBuilder().setName(tensor.name())
                .setDatatype(tensor.type().datatype()).addAllShape(batched(spec.maxBatchSize(), tensor.dims()))
                .build();
    }

    private static List<Long> batched(int maxBatchSize, List<Long> dims) {
        List<Long> shape = new ArrayList<>();
        if (maxBatchSize > 0) {
            shape.add(-1L);
        }
        shape.addAll(dims);
        return shape;
    }

    /** Each model's totals since start, in the shape of Triton's statistics extension. */
    static ModelStatisticsResponse statistics(List<ServedModel> models, ServerMetrics metrics) {
        ModelStatisticsResponse.Builder statistics = ModelStatisticsResponse.newBuilder();
        for (ServedModel model : models) {
            Snapshot totals = metrics.statistics(model.name());
            ModelStatistics.Builder entry = ModelStatistics.newBuilder().setName(model.name())
                    .setVersion(model.version()).setLastInference(totals.lastInferenceMillis())
                    .setInferenceCount(totals.inferenceCount()).setExecutionCount(totals.executionCount())
                    .setInferenceStats(InferStatistics.newBuilder().setSuccess(wire(totals.success()))
                            .setFail(wire(totals.fail())).setQueue(wire(totals.queue()))
                            .setComputeInput(wire(totals.computeInput())).setComputeInfer(wire(totals.computeInfer()))
                            .setComputeOutput(wire(totals.computeOutput())));
            totals.batches().values().forEach(batch -> entry.addBatchStats(InferBatchStatistics.newBuilder()
                    .setBatchSize(batch.batchSize()).setComputeInput(wire(batch.computeInput()))
                    .setComputeInfer(wire(batch.computeInfer())).setComputeOutput(wire(batch.computeOutput()))));
            statistics.addModelStats(entry);
        }
        return statistics.build();
    }

    private static StatisticDuration wire(Duration duration) {
        return StatisticDuration.newBuilder().setCount(duration.count()).setNs(duration.nanos()).build();
    }
}
