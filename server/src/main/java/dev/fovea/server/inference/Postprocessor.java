package dev.fovea.server.inference;

import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.PinnedBuffer;
import dev.fovea.torch.SoftmaxTopK;
import dev.fovea.torch.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns one batch's output tensors into predictions, request by request. A classifier's softmax and top-k run where
 * its logits are (on the device for a CUDA model), so only k probabilities and class indices per image come back,
 * copied into the instance's staging buffer; raw outputs cross to the host only when a request of the batch asks for
 * them, in the model's own dtype. One synchronization of the instance's stream per batch. Runs on the instance thread
 * that ran the batch.
 *
 * <p>Ownership: takes the batch's output tensors. Device outputs are freed as soon as their host copy exists (or at
 * once, when no request wants raw outputs); the host tensors go into an {@link OutputMemory} that the requests asking
 * for raw outputs share through their {@link Predictions}, so responses are written from tensor memory without a
 * copy. The top-k results are read into Java arrays before the constructor returns, so the staging buffer is free for
 * the next batch. Closing this drops the worker's reference: the memory is freed then, or when the last such
 * request's predictions are closed.
 */
final class Postprocessor implements AutoCloseable {

    private final ModelRunner.Settings settings;
    private final int batchSize;
    private final List<Tensor> outputs;
    private final OutputMemory memory;
    /** Classes kept per image (0 when not a classifier or no request wants any), and their scores and indices. */
    private final int topK;
    private final float[] topScores;
    private final long[] topClasses;

    /**
     * @param topK the most classes any request of the batch wants
     * @param rawOutputs whether any request of the batch wants the raw output tensors
     */
    Postprocessor(List<Tensor> outputs, int batchSize, int topK, boolean rawOutputs, ModelRunner.Settings settings,
            DeviceStaging staging) {
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
            this.topK = settings.classifier() ? Math.min(topK, classCount(outputs.getFirst())) : 0;
            this.topScores = new float[batchSize * this.topK];
            this.topClasses = new long[batchSize * this.topK];
            if (this.topK > 0) {
                topClassesOnDevice(outputs.getFirst(), staging);
            }
            if (rawOutputs) {
                for (Tensor output : outputs) {
                    host.add(output.device().equals(Device.CPU) ? output : output.to(Device.CPU));
                }
            }
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

    private int classCount(Tensor logits) {
        DType dtype = logits.dtype();
        boolean floating = dtype == DType.FLOAT32 || dtype == DType.FLOAT16 || dtype == DType.BFLOAT16
                || dtype == DType.FLOAT64;
        if (!floating || logits.shape().length != 2) {
            throw modelError("is a classifier but output 0 is " + logits + ", not floating-point [batch, classes]; "
                    + "set task: TASK_RAW in its config.pbtxt to get raw tensors");
        }
        return Math.toIntExact(logits.shape()[1]);
    }

    /**
     * Softmax and top-k where the logits are, the results copied into the staging buffer (asynchronously from a
     * device), then the one synchronization of the batch, then read into {@link #topScores} and {@link #topClasses}.
     * The lock keeps the instance's other threads (a one-by-one rerun) off the output buffer meanwhile.
     */
    private void topClassesOnDevice(Tensor logits, DeviceStaging staging) {
        // Indices first: their offset 0 is aligned for int64, and the floats after them for float32.
        long classBytes = (long) batchSize * topK * Long.BYTES;
        synchronized (staging) {
            PinnedBuffer buffer = staging.output(classBytes + (long) batchSize * topK * Float.BYTES);
            try (SoftmaxTopK top = SoftmaxTopK.of(logits, topK);
                    Tensor classes = buffer.view(0, DType.INT64, batchSize, topK);
                    Tensor scores = buffer.view(classBytes, DType.FLOAT32, batchSize, topK)) {
                top.indices().copyAsync(classes);
                top.probabilities().copyAsync(scores);
                staging.synchronize();
                MemorySegment.copy(buffer.segment(), ValueLayout.JAVA_LONG, 0, topClasses, 0, topClasses.length);
                MemorySegment.copy(buffer.segment(), ValueLayout.JAVA_FLOAT, classBytes, topScores, 0,
                        topScores.length);
            }
        }
    }

    /** One batch's number and the {@link System#nanoTime()} instants its stages started and inference ended. */
    record Batch(long id, long startNanos, long preprocessedNanos, long inferredNanos) {}

    /** The predictions for {@code request}, whose images are the rows from {@code offset} on. */
    Predictions predictions(InferenceRequest request, int offset, Batch batch) {
        long queueMicros = (batch.startNanos() - request.arrivalNanos()) / 1000;
        long preprocessMicros = (batch.preprocessedNanos() - batch.startNanos()) / 1000;
        long inferenceMicros = (batch.inferredNanos() - batch.preprocessedNanos()) / 1000;
        int images = request.images().size();
        int wanted = Math.min(request.topK(), topK);
        List<Prediction> predictions = new ArrayList<>(images);
        for (int row = offset; row < offset + images; row++) {
            long start = System.nanoTime();
            List<Prediction.ClassScore> top = new ArrayList<>(wanted);
            for (int i = row * topK; i < row * topK + wanted; i++) {
                int index = Math.toIntExact(topClasses[i]);
                top.add(new Prediction.ClassScore(index,
                        index < settings.labels().size() ? settings.labels().get(index) : "", topScores[i]));
            }
            List<Prediction.OutputTensor> raw = request.includeOutputs() ? rows(row) : List.of();
            long postprocess = System.nanoTime() - start;
            predictions.add(new Prediction(top, raw, new Prediction.Timings(queueMicros, preprocessMicros,
                    inferenceMicros, postprocess / 1000, batchSize, batch.id(), batch.startNanos(),
                    batch.preprocessedNanos(), start)));
        }
        return new Predictions(predictions, request.includeOutputs() ? memory : null);
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
