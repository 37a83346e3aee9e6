package dev.fovea.server.inference;

import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Turns a batch's output tensors into one {@link Prediction} per image. Runs on the model's worker thread. */
final class Postprocessor {

    private Postprocessor() {}

    /** @param stageNanos queue, preprocess and inference time, in that order */
    static List<Prediction> predictions(InferenceRequest request, List<Tensor> outputs, ModelRunner.Settings settings,
            long[] stageNanos) {
        int batch = request.images().size();
        if (outputs.isEmpty()) {
            throw modelError(settings, "returned no tensors");
        }
        List<Tensor> hostOutputs = new ArrayList<>(outputs.size());
        try {
            for (Tensor output : outputs) {
                long[] shape = output.shape();
                if (shape.length == 0 || shape[0] != batch) {
                    throw modelError(settings, "returned " + output + " for a batch of " + batch
                            + ": every output needs the batch as its first dimension");
                }
                hostOutputs.add(output.device().equals(Device.CPU) ? output : output.to(Device.CPU));
            }
            float[] logits = settings.classifier() ? classifierLogits(hostOutputs.getFirst(), settings) : null;
            int classes = logits == null ? 0 : logits.length / batch;
            List<Prediction> predictions = new ArrayList<>(batch);
            for (int i = 0; i < batch; i++) {
                long start = System.nanoTime();
                List<Prediction.ClassScore> top = logits == null ? List.of()
                        : topClasses(Arrays.copyOfRange(logits, i * classes, (i + 1) * classes), request.topK(),
                                settings.labels());
                List<Prediction.OutputTensor> raw = request.includeOutputs() ? rows(hostOutputs, i) : List.of();
                long postprocess = System.nanoTime() - start;
                predictions.add(new Prediction(top, raw, new Prediction.Timings(stageNanos[0] / 1000,
                        stageNanos[1] / 1000, stageNanos[2] / 1000, postprocess / 1000, batch)));
            }
            return predictions;
        } finally {
            for (Tensor host : hostOutputs) {
                if (!outputs.contains(host)) {
                    host.close();
                }
            }
        }
    }

    private static float[] classifierLogits(Tensor output, ModelRunner.Settings settings) {
        if (output.dtype() != DType.FLOAT32 || output.shape().length != 2) {
            throw modelError(settings, "is a classifier but output 0 is " + output
                    + ", not float32 [batch, classes]; set task: TASK_RAW in its config.pbtxt to get raw tensors");
        }
        return output.data().toArray(ValueLayout.JAVA_FLOAT);
    }

    private static List<Prediction.ClassScore> topClasses(float[] logits, int topK, List<String> labels) {
        float[] probabilities = Softmax.of(logits);
        List<Prediction.ClassScore> top = new ArrayList<>(topK);
        for (int index : Softmax.topK(probabilities, topK)) {
            top.add(new Prediction.ClassScore(index, index < labels.size() ? labels.get(index) : "",
                    probabilities[index]));
        }
        return top;
    }

    /** Row {@code i} of every output, copied out of tensor memory, which is freed when the batch is done. */
    private static List<Prediction.OutputTensor> rows(List<Tensor> outputs, int i) {
        List<Prediction.OutputTensor> rows = new ArrayList<>(outputs.size());
        for (Tensor output : outputs) {
            long[] shape = output.shape();
            long rowBytes = output.data().byteSize() / shape[0];
            MemorySegment row = output.data().asSlice(i * rowBytes, rowBytes);
            rows.add(new Prediction.OutputTensor(output.dtype(), Arrays.copyOfRange(shape, 1, shape.length),
                    row.toArray(ValueLayout.JAVA_BYTE)));
        }
        return rows;
    }

    private static InferenceException modelError(ModelRunner.Settings settings, String what) {
        return new InferenceException(InferenceException.Reason.MODEL_ERROR,
                "model " + settings.modelName() + " " + what);
    }
}
