package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_preprocess;

import dev.fovea.torch.internal.bindings.fovea_image;
import dev.fovea.torch.internal.bindings.fovea_preprocess_spec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.List;
import java.util.Objects;

/** Decodes and preprocesses pictures into a model's input batch, on the model's device, in one native call. */
public final class Preprocessor {

    static {
        NativeLibrary.ensureLoaded();
    }

    private Preprocessor() {}

    /**
     * A new float32 tensor [images, channels, cropHeight, cropWidth] on {@code device}, which the caller owns and
     * closes; row i is {@code images.get(i)}. The images' bytes are read in place, without a copy on the host, and
     * only during the call: the caller keeps their arenas open until it returns. On a GPU each image crosses as 8-bit
     * pixels. Blocks the calling thread; several threads may call at once.
     *
     * @throws IllegalArgumentException if {@code images} is empty
     * @throws NativeException kind INVALID_ARGUMENT, its message starting with {@code image N:} and naming the field,
     *     for a picture that is undecodable, too large or inconsistent with its stride and length, or naming the
     *     {@code spec.} field for sizes over the native limits; OUT_OF_MEMORY when host or device memory runs out
     * @throws IllegalStateException if an image's memory was already freed
     */
    public static Tensor toTensor(List<? extends ImageInput> images, Preprocessing spec, Device device) {
        Objects.requireNonNull(images, "images");
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(device, "device");
        if (images.isEmpty()) {
            throw new IllegalArgumentException("no images to preprocess");
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment array = fovea_image.allocateArray(images.size(), call); // fovea_image[count]
            for (int i = 0; i < images.size(); i++) {
                describe(images.get(i), fovea_image.asSlice(array, i));
            }
            MemorySegment nativeSpec = fovea_preprocess_spec.allocate(call); // fovea_preprocess_spec
            fovea_preprocess_spec.resize_shorter_side(nativeSpec, spec.resizeShorterSide());
            fovea_preprocess_spec.crop_width(nativeSpec, spec.cropWidth());
            fovea_preprocess_spec.crop_height(nativeSpec, spec.cropHeight());
            float[] mean = spec.mean();
            float[] std = spec.std();
            for (int c = 0; c < mean.length; c++) {
                fovea_preprocess_spec.mean(nativeSpec, c, mean[c]);
                fovea_preprocess_spec.std(nativeSpec, c, std[c]);
            }
            fovea_preprocess_spec.channel_order(nativeSpec, spec.channelOrder().code());
            MemorySegment out = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            int status = fovea_preprocess(array, images.size(), nativeSpec, Devices.toNative(device),
                    device.index(), out, error);
            NativeErrors.check(status, error);
            return Tensor.adopt(out.get(C_POINTER, 0));
        } finally {
            // The images' segments were only referenced by address in the struct array: keep them reachable (and so
            // an automatic arena's memory alive) until the native call has returned.
            Reference.reachabilityFence(images);
        }
    }

    private static void describe(ImageInput image, MemorySegment slot) {
        MemorySegment bytes = image.bytes();
        if (!bytes.scope().isAlive()) {
            throw new IllegalStateException("an image's memory was freed (its arena is closed)");
        }
        fovea_image.data(slot, bytes);
        fovea_image.byte_size(slot, bytes.byteSize());
        switch (image) {
            case ImageInput.Encoded encoded -> fovea_image.encoded(slot, 1);
            case ImageInput.Pixels pixels -> {
                fovea_image.encoded(slot, 0);
                fovea_image.width(slot, pixels.width());
                fovea_image.height(slot, pixels.height());
                fovea_image.row_stride(slot, pixels.rowStride());
                fovea_image.format(slot, pixels.format().code());
            }
        }
    }
}
