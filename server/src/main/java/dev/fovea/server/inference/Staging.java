package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.Preprocessor;
import dev.fovea.torch.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The first stage of a {@link ModelInstance}'s pipeline: a batch's model input, made from its requests' images on the
 * calling thread (the instance's worker). Pictures are decoded and preprocessed; raw tensors are stacked into one
 * {@code [n, ...]} tensor. This is where a CUDA instance's copy into its pinned staging buffer and its host-to-device
 * copy on its own stream go. The input never views request memory (see {@link StagedBatch}).
 */
final class Staging {

    /** Turns a batch's pictures into the model's input tensor; {@link Preprocessor#toTensor} outside tests. */
    @FunctionalInterface
    interface Preprocess {
        Tensor toTensor(List<ImageInput> pictures, Preprocessing spec, Device device);
    }

    private final ModelRunner.Settings settings;
    private final Preprocess preprocess;
    private final boolean onCpu;

    Staging(ModelRunner.Settings settings, Preprocess preprocess) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.preprocess = Objects.requireNonNull(preprocess, "preprocess");
        this.onCpu = settings.device().equals(Device.CPU);
    }

    /** The batch's model input, made on the calling thread. */
    StagedBatch stage(List<Job> batch) {
        long start = System.nanoTime();
        List<InputImage> images = new ArrayList<>();
        for (Job job : batch) {
            images.addAll(job.request().images());
        }
        if (images.getFirst() instanceof InputImage.Picture) {
            return new StagedBatch(batch, null, preprocess(images), true, start);
        }
        Arena scratch = Arena.ofShared();
        try {
            Tensor input = stackTensors(images, scratch);
            if (!onCpu) {
                scratch.close(); // the device copy is made
                scratch = null;
            }
            return new StagedBatch(batch, scratch, input, false, start);
        } catch (RuntimeException | Error e) {
            if (scratch != null) {
                scratch.close();
            }
            throw e;
        }
    }

    private Tensor preprocess(List<InputImage> images) {
        List<ImageInput> pictures = new ArrayList<>(images.size());
        for (InputImage image : images) {
            pictures.add(((InputImage.Picture) image).image());
        }
        try {
            return preprocess.toTensor(pictures, settings.preprocessing(), settings.device());
        } catch (NativeException e) {
            throw InferenceException.fromNative(e, true, settings.modelName());
        }
    }

    /** Copies same-shaped tensors (batches only hold compatible requests) into one [n, ...] batch. */
    private Tensor stackTensors(List<InputImage> images, Arena scratch) {
        InputImage.Tensor first = (InputImage.Tensor) images.getFirst();
        long bytesEach = first.data().byteSize();
        MemorySegment stacked = scratch.allocate(bytesEach * images.size(), 16);
        for (int i = 0; i < images.size(); i++) {
            MemorySegment.copy(((InputImage.Tensor) images.get(i)).data(), 0, stacked, i * bytesEach, bytesEach);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = images.size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        Tensor host = Tensor.wrap(stacked, first.dtype(), shape);
        if (onCpu) {
            return host;
        }
        try (host) {
            return host.to(settings.device());
        }
    }

    /**
     * The outputs, with every one that shares memory with {@code input} (a model returning {@code x} or
     * {@code x.view(...)}) replaced by a copy. A stacked tensor input is a view of the batch's scratch arena, freed when
     * the batch is done, while outputs live on until the responses are sent.
     */
    static List<Tensor> ownedOutputs(List<Tensor> outputs, Tensor input) {
        if (!input.device().equals(Device.CPU)) {
            return outputs;
        }
        MemorySegment inputBytes = input.data();
        List<Tensor> owned = new ArrayList<>(outputs.size());
        try {
            for (Tensor output : outputs) {
                boolean sharesInput = output.device().equals(Device.CPU)
                        && inputBytes.asOverlappingSlice(output.data()).isPresent();
                owned.add(sharesInput ? output.to(Device.CPU) : output);
            }
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            outputs.forEach(Tensor::close);
            throw e;
        }
        for (Tensor output : outputs) {
            if (!owned.contains(output)) {
                output.close();
            }
        }
        return owned;
    }
}
