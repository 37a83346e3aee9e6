package dev.fovea.server.inference;

import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns one batch's output tensors into predictions, request by request. Outputs are brought to the host once per
 * batch (one device-to-host copy each) and the classifier's logits read once. Runs on the instance thread that ran the
 * batch.
 *
 * <p>Ownership: takes the batch's output tensors. Device outputs are freed as soon as their host copy exists; the host
 * tensors go into an {@link OutputMemory} that the requests asking for raw outputs share through their
 * {@link Predictions}, so responses are written from tensor memory without a copy. Closing this drops the worker's
 * reference: the memory is freed then, or when the last such request's predictions are closed.
 */
final class Postprocessor implements AutoCloseable {

    private final ModelRunner.Settings settings;
    private final int batchSize;
    private final List<Tensor> outputs;
    private final OutputMemory memory;
    private final float[] logits;

    Postprocessor(List<Tensor> outputs, int batchSize, ModelRunner.Settings settings) {
        this.settings = settings;
        this.batchSize = batchSize;
        List<Tensor> host = new ArrayList<>(outputs.size());
        try {
            if (outputs.isEmpty()) {
                throw modelError("returned no tensors");
            }
            for (Tensor output : outputs) {
                long[] shape = output.shape();
                if (shape.length == 0 || shape[0] != batchSize) {
                    throw modelError("returned " + output + " for a batch of " + batchSize
                            + ": every output needs the batch as its first dimension");
                }
            }
            for (Tensor output : outputs) {
                host.add(output.device().equals(Device.CPU) ? output : output.to(Device.CPU));
            }
            this.logits = settings.classifier() ? classifierLogits(host.getFirst()) : null;
        } catch (RuntimeException e) {
            outputs.forEach(Tensor::close);
            host.forEach(Tensor::close);
            throw e;
        }
        for (Tensor output : outputs) {
            if (!host.contains(output)) {
                output.close();
            }
        }
        this.outputs = host;
        this.memory = new OutputMemory(host);
    }

    /** One batch's number and the {@link System#nanoTime()} instants its stages started and inference ended. */
    record Batch(long id, long startNanos, long preprocessedNanos, long inferredNanos) {}

    /** The predictions for {@code request}, whose images are the rows from {@code offset} on. */
    Predictions predictions(InferenceRequest request, int offset, Batch batch) {
        long queueMicros = (batch.startNanos() - request.arrivalNanos()) / 1000;
        long preprocessMicros = (batch.preprocessedNanos() - batch.startNanos()) / 1000;
        long inferenceMicros = (batch.inferredNanos() - batch.preprocessedNanos()) / 1000;
        int classes = logits == null ? 0 : logits.length / batchSize;
        int images = request.images().size();
        List<Prediction> predictions = new ArrayList<>(images);
        for (int row = offset; row < offset + images; row++) {
            long start = System.nanoTime();
            List<Prediction.ClassScore> top = logits == null ? List.of()
                    : topClasses(Arrays.copyOfRange(logits, row * classes, (row + 1) * classes),
                            Math.min(request.topK(), classes));
            List<Prediction.OutputTensor> raw = request.includeOutputs() ? rows(row) : List.of();
            long postprocess = System.nanoTime() - start;
            predictions.add(new Prediction(top, raw, new Prediction.Timings(queueMicros, preprocessMicros,
                    inferenceMicros, postprocess / 1000, batchSize, batch.id(), batch.startNanos(),
                    batch.preprocessedNanos(), start)));
        }
        return new Predictions(predictions, request.includeOutputs() ? memory : null);
    }

    private float[] classifierLogits(Tensor output) {
        if (output.dtype() != DType.FLOAT32 || output.shape().length != 2) {
            throw modelError("is a classifier but output 0 is " + output
                    + ", not float32 [batch, classes]; set task: TASK_RAW in its config.pbtxt to get raw tensors");
        }
        return output.data().toArray(ValueLayout.JAVA_FLOAT);
    }

    /** The best {@code topK} classes; {@code topK} is at most the class count, so the list is sized by the model. */
    private List<Prediction.ClassScore> topClasses(float[] rowLogits, int topK) {
        float[] probabilities = Softmax.of(rowLogits);
        List<Prediction.ClassScore> top = new ArrayList<>(topK);
        for (int index : Softmax.topK(probabilities, topK)) {
            top.add(new Prediction.ClassScore(index,
                    index < settings.labels().size() ? settings.labels().get(index) : "", probabilities[index]));
        }
        return top;
    }

    /** Row {@code row} of every output: views of tensor memory, kept alive by the request's {@link Predictions}. */
    private List<Prediction.OutputTensor> rows(int row) {
        List<Prediction.OutputTensor> rows = new ArrayList<>(outputs.size());
        for (Tensor output : outputs) {
            long[] shape = output.shape();
            long rowBytes = output.data().byteSize() / shape[0];
            MemorySegment slice = output.data().asSlice(row * rowBytes, rowBytes);
            rows.add(new Prediction.OutputTensor(output.dtype(), Arrays.copyOfRange(shape, 1, shape.length), slice));
        }
        return rows;
    }

    private InferenceException modelError(String what) {
        return new InferenceException(InferenceException.Reason.MODEL_ERROR,
                "model " + settings.modelName() + " " + what);
    }

    @Override
    public void close() {
        memory.release();
    }
}
