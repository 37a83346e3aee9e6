package dev.fovea.server.grpc;

import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.server.inference.Prediction;
import dev.fovea.server.model.ElementType;
import dev.fovea.v1.Classification;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.Result;
import dev.fovea.v1.Timings;

/** Turns {@link Prediction}s into wire {@link Result}s. */
final class Results {

    private Results() {}

    static Result toWire(Prediction prediction) {
        Result.Builder result = Result.newBuilder();
        for (Prediction.ClassScore score : prediction.classes()) {
            result.addClasses(Classification.newBuilder().setIndex(score.index()).setLabel(score.label())
                    .setScore(score.score()));
        }
        for (Prediction.OutputTensor output : prediction.outputs()) {
            RawTensor.Builder tensor = RawTensor.newBuilder().setDtype(ElementType.named(output.dtype()).wire());
            for (long size : output.shape()) {
                tensor.addShape(size);
            }
            // A view of tensor memory, never written again; the response marshaller frees it after the send.
            result.addOutputs(tensor.setData(UnsafeByteOperations.unsafeWrap(output.data().asByteBuffer())));
        }
        Prediction.Timings timings = prediction.timings();
        return result.setTimings(Timings.newBuilder()
                        .setQueueUs(timings.queueMicros())
                        .setPreprocessUs(timings.preprocessMicros())
                        .setInferenceUs(timings.inferenceMicros())
                        .setPostprocessUs(timings.postprocessMicros())
                        .setBatchSize(timings.batchSize()))
                .build();
    }
}
