package dev.fovea.server.grpc;

import com.google.protobuf.ByteString;
import dev.fovea.server.inference.InputImage;
import dev.fovea.torch.DType;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.v1.Image;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.RawTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks the images of a request and puts their bytes in native memory for the model runner (viewed in place when the
 * message was parsed into native memory, copied otherwise). Every problem is
 * an INVALID_INPUT naming the field, e.g. {@code images[2].pixels.row_stride}; nothing is queued for a bad request.
 */
final class RequestImages {

    /** Largest width or height accepted, the same limit the native decoder applies to encoded images. */
    static final int MAX_SIDE = 16_384;
    static final long MAX_PIXELS = 64L << 20;

    private RequestImages() {}

    /**
     * Where an image's bytes go: views into the native copy of the message when it has one (no copy at all), else
     * a copy into the arena. The caller owns the arena and closes it, also when conversion throws.
     */
    record Memory(Arena arena, NativeMessageMarshaller.NativeMessage message) {
        /** Memory for a message parsed on the heap: image bytes are copied into a new arena. */
        static Memory copying() {
            return new Memory(Arena.ofShared(), null);
        }

        /** Memory for a message parsed into native memory: its image bytes are viewed where they are. */
        static Memory of(NativeMessageMarshaller.NativeMessage message) {
            return message == null ? copying() : new Memory(message.arena(), message);
        }

        MemorySegment bytesOf(ByteString bytes) {
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

    static List<InputImage> toInputs(List<Image> images, String field, Memory memory) {
        List<InputImage> inputs = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            inputs.add(toInput(images.get(i), field + "[" + i + "]", memory));
        }
        return inputs;
    }

    static InputImage toInput(Image image, String field, Memory memory) {
        return switch (image.getDataCase()) {
            case ENCODED -> encoded(image.getEncoded().getData(), field + ".encoded", memory);
            case PIXELS -> pixels(image.getPixels(), field + ".pixels", memory);
            case TENSOR -> tensor(image.getTensor(), field + ".tensor", memory);
            case DATA_NOT_SET -> throw Statuses.invalid(field + ": no image data (set encoded, pixels or tensor)");
        };
    }

    private static InputImage encoded(ByteString data, String field, Memory memory) {
        if (data.isEmpty()) {
            throw Statuses.invalid(field + ".data is empty");
        }
        return new InputImage.Picture(new ImageInput.Encoded(memory.bytesOf(data)));
    }

    private static InputImage pixels(RawPixels pixels, String field, Memory memory) {
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
        if (width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
            throw Statuses.invalid(field + ": " + width + "x" + height + " is too large (at most " + MAX_SIDE
                    + " per side and " + MAX_PIXELS + " pixels)");
        }
        long rowBytes = width * format.channels();
        long stride = pixels.getRowStride() == 0 ? rowBytes : Integer.toUnsignedLong(pixels.getRowStride());
        if (stride < rowBytes) {
            throw Statuses.invalid(field + ".row_stride " + stride + " is less than width x channels (" + rowBytes
                    + ")");
        }
        long needed = (height - 1) * stride + rowBytes;
        long available = pixels.getData().size();
        if (available < needed || available > height * stride) {
            throw Statuses.invalid(field + ".data holds " + available + " bytes but " + width + "x" + height + " "
                    + format + " with row_stride " + stride + " needs " + needed
                    + (needed == height * stride ? "" : " to " + height * stride));
        }
        return new InputImage.Picture(new ImageInput.Pixels(memory.bytesOf(pixels.getData()), (int) width,
                (int) height, (int) stride, format));
    }

    private static InputImage tensor(RawTensor tensor, String field, Memory memory) {
        DType dtype = DataTypes.toNative(tensor.getDtype());
        if (dtype == null) {
            throw Statuses.invalid(field + ".dtype is not set");
        }
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
        if (tensor.getData().size() != needed) {
            throw Statuses.invalid(field + ".data holds " + tensor.getData().size() + " bytes but " + dtype + " "
                    + tensor.getShapeList() + " needs " + needed);
        }
        long[] shape = tensor.getShapeList().stream().mapToLong(Long::longValue).toArray();
        return new InputImage.Tensor(dtype, shape, memory.bytesOf(tensor.getData()));
    }
}
