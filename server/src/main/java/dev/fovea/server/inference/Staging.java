package dev.fovea.server.inference;

import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.PinnedBuffer;
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
 * {@code [n, ...]} tensor: on the CPU into the batch's own scratch memory (the next batch is staged while this one is
 * in forward), for a CUDA instance into its pinned staging buffer ({@link DeviceStaging}), copied to the device
 * asynchronously on the instance's stream. The input never views request memory (see {@link StagedBatch}).
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

    /** The batch's model input, made on the calling thread, a CUDA instance's with {@code device}'s stream. */
    StagedBatch stage(List<Job> batch, DeviceStaging device) {
        long start = System.nanoTime();
        List<InputImage> images = new ArrayList<>();
        for (Job job : batch) {
            images.addAll(job.request().images());
        }
        if (images.getFirst() instanceof InputImage.Picture) {
            return new StagedBatch(batch, null, preprocess(images, batch), true, start);
        }
        if (!onCpu) {
            return new StagedBatch(batch, null, toDevice(images, device, batch), false, start);
        }
        Arena scratch = Arena.ofShared();
        try {
            MemorySegment stacked = scratch.allocate(stackedBytes(images), 16);
            InputImage.Tensor first = (InputImage.Tensor) images.getFirst();
            Tensor input = Tensor.wrap(stacked, first.dtype(), stack(images, stacked));
            return new StagedBatch(batch, scratch, input, false, start);
        } catch (RuntimeException | Error e) {
            scratch.close();
            throw e;
        }
    }

    /**
     * Stacks the tensors into the instance's pinned input buffer and copies them to the device on its stream. The
     * stream is synchronized before the buffer is let go, so the next batch may overwrite it: that waits for this
     * instance's forward already queued on the stream, while the host-side work of staging (decoding, stacking) still
     * overlaps the device's. The lock keeps a one-by-one rerun on another thread of this instance off the buffer.
     */
    private Tensor toDevice(List<InputImage> images, DeviceStaging device, List<Job> batch) {
        synchronized (device) {
            PinnedBuffer buffer = device.input(Math.max(1, stackedBytes(images)));
            long[] shape = stack(images, buffer.segment());
            try (Tensor host = buffer.view(0, ((InputImage.Tensor) images.getFirst()).dtype(), shape)) {
                Tensor input = host.toAsync(settings.device());
                device.synchronize();
                return input;
            } catch (NativeException e) {
                throw InferenceException.fromNative(e, false, settings.modelName(), batch);
            }
        }
    }

    private Tensor preprocess(List<InputImage> images, List<Job> batch) {
        List<ImageInput> pictures = new ArrayList<>(images.size());
        for (InputImage image : images) {
            pictures.add(((InputImage.Picture) image).image());
        }
        try {
            return preprocess.toTensor(pictures, settings.preprocessing(), settings.device());
        } catch (NativeException e) {
            throw InferenceException.fromNative(e, true, settings.modelName(), batch);
        }
    }

    private static long stackedBytes(List<InputImage> images) {
        return ((InputImage.Tensor) images.getFirst()).data().byteSize() * images.size();
    }

    /**
     * Copies same-shaped tensors (batches only hold compatible requests) into {@code stacked}, one after another, and
     * returns the shape of the [n, ...] batch they make.
     */
    private static long[] stack(List<InputImage> images, MemorySegment stacked) {
        InputImage.Tensor first = (InputImage.Tensor) images.getFirst();
        long bytesEach = first.data().byteSize();
        for (int i = 0; i < images.size(); i++) {
            MemorySegment.copy(((InputImage.Tensor) images.get(i)).data(), 0, stacked, i * bytesEach, bytesEach);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = images.size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        return shape;
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
