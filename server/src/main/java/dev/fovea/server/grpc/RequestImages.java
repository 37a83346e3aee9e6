package dev.fovea.server.grpc;

import com.google.protobuf.ByteString;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.sharedmemory.Caller;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.torch.DType;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.v1.EncodedImage;
import dev.fovea.v1.Image;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.RawTensor;
import dev.fovea.v1.SharedMemoryRef;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks the images of a request and puts their bytes in native memory for the model runner (viewed in place when the
 * message was parsed into native memory, copied otherwise). Every problem is
 * an INVALID_INPUT naming the field, e.g. {@code images[2].pixels.row_stride}; nothing is queued for a bad request.
 * Every picture is counted against the request's {@link PixelBudget} (encoded ones by the size their header claims).
 */
final class RequestImages {

    private RequestImages() {}

    /**
     * Where an image's bytes come from and go: views into the native copy of the message when it has one (no copy at
     * all), else a copy into the arena; or, for a shared-memory reference, a copy out of the registered region into
     * the arena (native code never reads a client's file in place: the client can truncate it). The caller owns the
     * arena and closes it, also when conversion throws. {@code caller} is who sent the request, for shared memory.
     */
    record Memory(Arena arena, NativeMessageMarshaller.NativeMessage message, SharedMemoryRegistry regions,
            Caller caller) {
        /**
         * Memory for a message parsed into native memory (its bytes viewed in place), or on the heap (null); call it
         * on the call's thread, where the caller is known.
         */
        static Memory of(NativeMessageMarshaller.NativeMessage message, SharedMemoryRegistry regions) {
            return message == null ? new Memory(Arena.ofShared(), null, regions, Callers.current())
                    : new Memory(message.arena(), message, regions, Callers.current());
        }

        /** The bytes a field carries inline ({@code data}) or by reference ({@code ref}, when {@code hasRef}). */
        MemorySegment bytes(ByteString data, boolean hasRef, SharedMemoryRef ref, String field) {
            if (!hasRef) {
                return inline(data);
            }
            if (!data.isEmpty()) {
                throw Statuses.invalid(field + ": set data or shared_memory, not both");
            }
            if (ref.getOffset() < 0 || ref.getByteSize() < 0) {
                throw Statuses.invalid(field + ".shared_memory: offset and byte_size must be below 2^63");
            }
            return regions.read(caller, ref.getRegion(), ref.getOffset(), ref.getByteSize(), arena,
                    field + ".shared_memory");
        }

        private MemorySegment inline(ByteString bytes) {
            if (message != null) {
                MemorySegment view = message.sliceOf(bytes.asReadOnlyByteBuffer());
                if (view != null) {
                    return view;
                }
            }
            MemorySegment segment = arena.allocate(bytes.size(), 16);
            bytes.copyTo(segment.asByteBuffer());
            return segment;
        }
    }

    static List<InputImage> toInputs(List<Image> images, String field, Memory memory, PixelBudget budget) {
        List<InputImage> inputs = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            inputs.add(toInput(images.get(i), field + "[" + i + "]", memory, budget));
        }
        return inputs;
    }

    static InputImage toInput(Image image, String field, Memory memory, PixelBudget budget) {
        return switch (image.getDataCase()) {
            case ENCODED -> encoded(image.getEncoded(), field + ".encoded", memory, budget);
            case PIXELS -> pixels(image.getPixels(), field + ".pixels", memory, budget);
            case TENSOR -> tensor(image.getTensor(), field + ".tensor", memory);
            case DATA_NOT_SET -> throw Statuses.invalid(field + ": no image data (set encoded, pixels or tensor)");
        };
    }

    private static InputImage encoded(EncodedImage image, String field, Memory memory, PixelBudget budget) {
        MemorySegment bytes = memory.bytes(image.getData(), image.hasSharedMemory(), image.getSharedMemory(), field);
        if (bytes.byteSize() == 0) {
            throw Statuses.invalid(field + ".data is empty");
        }
        budget.chargeEncoded(bytes, field);
        return new InputImage.Picture(new ImageInput.Encoded(bytes));
    }

    private static InputImage pixels(RawPixels pixels, String field, Memory memory, PixelBudget budget) {
        PixelFormat format = switch (pixels.getFormat()) {
            case PIXEL_FORMAT_RGB -> PixelFormat.RGB;
            case PIXEL_FORMAT_BGR -> PixelFormat.BGR;
            case PIXEL_FORMAT_GRAY -> PixelFormat.GRAY;
            case PIXEL_FORMAT_UNSPECIFIED, UNRECOGNIZED ->
                    throw Statuses.invalid(field + ".format is not set (RGB, BGR or GRAY)");
        };
        long width = Integer.toUnsignedLong(pixels.getWidth());
        long height = Integer.toUnsignedLong(pixels.getHeight());
        if (width == 0 || height == 0) {
            throw Statuses.invalid(field + ": width and height must be at least 1, got " + width + "x" + height);
        }
        if (width > ImageLimits.MAX_SIDE || height > ImageLimits.MAX_SIDE) {
            throw Statuses.invalid(field + ": " + width + "x" + height + " is too large (at most "
                    + ImageLimits.MAX_SIDE + " per side)");
        }
        budget.charge(width, height, field);
        long rowBytes = width * format.channels();
        long stride = pixels.getRowStride() == 0 ? rowBytes : Integer.toUnsignedLong(pixels.getRowStride());
        if (stride < rowBytes) {
            throw Statuses.invalid(field + ".row_stride " + stride + " is less than width x channels (" + rowBytes
                    + ")");
        }
        long needed = (height - 1) * stride + rowBytes;
        MemorySegment bytes = memory.bytes(pixels.getData(), pixels.hasSharedMemory(), pixels.getSharedMemory(),
                field);
        long available = bytes.byteSize();
        if (available < needed || available > height * stride) {
            throw Statuses.invalid(field + ".data holds " + available + " bytes but " + width + "x" + height + " "
                    + format + " with row_stride " + stride + " needs " + needed
                    + (needed == height * stride ? "" : " to " + height * stride));
        }
        return new InputImage.Picture(new ImageInput.Pixels(bytes, (int) width, (int) height, (int) stride,
                format));
    }

    private static InputImage tensor(RawTensor tensor, String field, Memory memory) {
        DType dtype = ElementType.ofWire(tensor.getDtype()).map(ElementType::nativeType)
                .orElseThrow(() -> Statuses.invalid(field + ".dtype is not set"));
        long elements = 1;
        for (int d = 0; d < tensor.getShapeCount(); d++) {
            long size = tensor.getShape(d);
            if (size < 0) {
                throw Statuses.invalid(field + ".shape[" + d + "] is negative: " + size);
            }
            try {
                elements = Math.multiplyExact(elements, size);
            } catch (ArithmeticException e) {
                throw Statuses.invalid(field + ".shape " + tensor.getShapeList() + " is too large");
            }
        }
        long needed;
        try {
            needed = Math.multiplyExact(elements, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw Statuses.invalid(field + ".shape " + tensor.getShapeList() + " is too large");
        }
        MemorySegment bytes = memory.bytes(tensor.getData(), tensor.hasSharedMemory(), tensor.getSharedMemory(),
                field);
        if (bytes.byteSize() != needed) {
            throw Statuses.invalid(field + ".data holds " + bytes.byteSize() + " bytes but " + dtype + " "
                    + tensor.getShapeList() + " needs " + needed);
        }
        long[] shape = tensor.getShapeList().stream().mapToLong(Long::longValue).toArray();
        return new InputImage.Tensor(dtype, shape, bytes);
    }
}
