package dev.fovea.server.grpc;

import com.google.protobuf.ByteString;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.InferTensorContents;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.server.serving.InputCheck;
import dev.fovea.server.serving.Statuses;
import dev.fovea.torch.DType;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.PixelFormat;
import dev.fovea.v1.SharedMemoryRef;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Turns the input of an Open Inference Protocol request into images for the model runner. The tensor's first
 * dimension is the batch; each row becomes one image:
 *
 * <ul>
 *   <li>a model that preprocesses (Fovea's own layout) takes {@code UINT8 [N, H, W, C]} frames (C = 3: RGB, 1: gray)
 *       and {@code BYTES [N]} encoded images (JPEG, PNG) as pictures, and any other tensor as it is;
 *   <li>a Triton-layout model takes every tensor as it is.
 * </ul>
 *
 * The bytes come from {@code raw_input_contents}, a registered shared-memory region ({@code shared_memory_region},
 * {@code shared_memory_offset}, {@code shared_memory_byte_size} parameters) or the typed contents, in that order;
 * raw and shared-memory bytes are viewed in place. Every problem is an INVALID_INPUT naming the field. Pictures
 * (frames, and encoded images by the size their header claims) are counted against the request's
 * {@link PixelBudget}.
 */
final class InferInputs {

    private InferInputs() {}

    static List<InputImage> toInputs(ModelInferRequest request, ServedModel model, RequestImages.Memory memory,
            PixelBudget budget) {
        ModelSpec.Tensor expected = model.spec().input();
        if (request.getInputsCount() != 1) {
            throw Statuses.invalid("inputs: model " + model.name() + " takes one input, '" + expected.name()
                    + "', got " + request.getInputsCount());
        }
        ModelInferRequest.InferInputTensor input = request.getInputs(0);
        String field = "inputs[0]";
        if (!input.getName().equals(expected.name())) {
            throw Statuses.invalid(field + ".name: " + ClientText.quote(input.getName())
                    + " is not an input of model " + model.name() + " (its input is '" + expected.name() + "')");
        }
        if (request.getRawInputContentsCount() != 0 && request.getRawInputContentsCount() != 1) {
            throw Statuses.invalid("raw_input_contents: " + request.getRawInputContentsCount()
                    + " entries for one input");
        }
        List<Long> shape = input.getShapeList();
        if (shape.isEmpty() || shape.getFirst() < 1) {
            throw Statuses.invalid(field + ".shape " + shape + ": the first dimension is the batch and must be >= 1");
        }
        for (int d = 0; d < shape.size(); d++) {
            if (shape.get(d) < 0) {
                throw Statuses.invalid(field + ".shape[" + d + "] is negative: " + shape.get(d));
            }
        }
        int maxBatch = model.runner().settings().maxBatchSize();
        if (shape.getFirst() > maxBatch) {
            throw Statuses.invalid(field + ".shape " + shape + ": a batch of " + shape.getFirst()
                    + " exceeds model " + model.name() + "'s max_batch_size " + maxBatch);
        }
        int batch = shape.getFirst().intValue();
        if (model.spec().takesPictures() && input.getDatatype().equals(ElementType.BYTES.datatype())) {
            return encoded(request, input, field, batch, memory, budget);
        }
        DType dtype = ElementType.ofDatatype(input.getDatatype()).filter(type -> !type.isBytes())
                .map(ElementType::nativeType).orElseThrow(() -> Statuses.invalid(field + ".datatype "
                        + ClientText.quote(input.getDatatype()) + " is not supported (supported: "
                        + ElementType.datatypes() + ")"));
        long rowElements = 1;
        try {
            for (int d = 1; d < shape.size(); d++) {
                rowElements = Math.multiplyExact(rowElements, shape.get(d));
            }
            Math.multiplyExact(Math.multiplyExact(rowElements, dtype.byteSize()), (long) batch);
        } catch (ArithmeticException e) {
            throw Statuses.invalid(field + ".shape " + shape + " is too large");
        }
        long rowBytes = rowElements * dtype.byteSize();
        long[] rowShape = InputCheck.rowShape(model.spec(), input.getDatatype(), batch,
                shape.subList(1, shape.size()).stream().mapToLong(Long::longValue).toArray());
        MemorySegment bytes = fixedSizeBytes(request, input, field, dtype, memory);
        if (bytes.byteSize() != rowBytes * batch) {
            throw Statuses.invalid(field + ": " + bytes.byteSize() + " bytes of data but " + input.getDatatype()
                    + " " + shape + " needs " + rowBytes * batch);
        }
        List<InputImage> images = new ArrayList<>(batch);
        boolean frames = model.spec().takesPictures() && dtype == DType.UINT8 && shape.size() == 4
                && (shape.get(3) == 3 || shape.get(3) == 1);
        for (int row = 0; row < batch; row++) {
            MemorySegment rowBytesView = bytes.asSlice(row * rowBytes, rowBytes);
            if (frames) {
                int height = checkedSide(shape.get(1), field);
                int width = checkedSide(shape.get(2), field);
                int channels = shape.get(3).intValue();
                budget.charge(width, height, field + "[" + row + "]");
                images.add(new InputImage.Picture(new ImageInput.Pixels(rowBytesView, width, height,
                        width * channels, channels == 3 ? PixelFormat.RGB : PixelFormat.GRAY)));
            } else {
                images.add(new InputImage.Tensor(dtype, rowShape, rowBytesView));
            }
        }
        return images;
    }

    private static int checkedSide(long side, String field) {
        if (side < 1 || side > ImageLimits.MAX_SIDE) {
            throw Statuses.invalid(field + ".shape: a frame side of " + side + " is outside 1.." + ImageLimits.MAX_SIDE);
        }
        return (int) side;
    }

    /** BYTES elements, each an encoded image; raw contents hold each as a 4-byte little-endian length + bytes. */
    private static List<InputImage> encoded(ModelInferRequest request, ModelInferRequest.InferInputTensor input,
            String field, int batch, RequestImages.Memory memory, PixelBudget budget) {
        long elements;
        try {
            elements = input.getShapeList().stream().reduce(1L, Math::multiplyExact);
        } catch (ArithmeticException e) {
            throw Statuses.invalid(field + ".shape " + input.getShapeList() + " is too large");
        }
        if (elements != batch) {
            throw Statuses.invalid(field + ".shape " + input.getShapeList()
                    + ": BYTES inputs hold one encoded image per batch row ([N] or [N, 1])");
        }
        List<InputImage> images = new ArrayList<>(batch);
        if (request.getRawInputContentsCount() == 0 && sharedMemory(input.getParametersMap(), field) == null) {
            List<ByteString> contents = input.getContents().getBytesContentsList();
            if (contents.size() != batch) {
                throw Statuses.invalid(field + ".contents.bytes_contents has " + contents.size() + " images for a "
                        + "batch of " + batch);
            }
            for (int i = 0; i < batch; i++) {
                images.add(picture(memory.bytes(contents.get(i), false, null, field), field + ".contents[" + i + "]",
                        budget));
            }
            return images;
        }
        MemorySegment bytes = rawOrShared(request, input, field, memory);
        long offset = 0;
        for (int i = 0; i < batch; i++) {
            if (bytes.byteSize() - offset < 4) {
                throw Statuses.invalid(field + ": the data ends before element " + i + "'s 4-byte length");
            }
            long length = Integer.toUnsignedLong(bytes.get(ValueLayout.JAVA_INT_UNALIGNED
                    .withOrder(ByteOrder.LITTLE_ENDIAN), offset));
            offset += 4;
            if (length > bytes.byteSize() - offset) {
                throw Statuses.invalid(field + ": element " + i + " claims " + length + " bytes; "
                        + (bytes.byteSize() - offset) + " remain");
            }
            images.add(picture(bytes.asSlice(offset, length), field + "[" + i + "]", budget));
            offset += length;
        }
        if (offset != bytes.byteSize()) {
            throw Statuses.invalid(field + ": " + (bytes.byteSize() - offset) + " bytes follow the last element");
        }
        return images;
    }

    private static InputImage picture(MemorySegment bytes, String field, PixelBudget budget) {
        if (bytes.byteSize() == 0) {
            throw Statuses.invalid(field + " is empty");
        }
        budget.chargeEncoded(bytes, field);
        return new InputImage.Picture(new ImageInput.Encoded(bytes));
    }

    /** The input's bytes from raw contents, shared memory or typed contents (copied, little-endian). */
    private static MemorySegment fixedSizeBytes(ModelInferRequest request, ModelInferRequest.InferInputTensor input,
            String field, DType dtype, RequestImages.Memory memory) {
        if (request.getRawInputContentsCount() != 0 || sharedMemory(input.getParametersMap(), field) != null) {
            return rawOrShared(request, input, field, memory);
        }
        return typed(input.getContents(), field, dtype, memory);
    }

    private static MemorySegment rawOrShared(ModelInferRequest request, ModelInferRequest.InferInputTensor input,
            String field, RequestImages.Memory memory) {
        SharedMemoryRef shared = sharedMemory(input.getParametersMap(), field);
        boolean raw = request.getRawInputContentsCount() != 0;
        if (raw && shared != null) {
            throw Statuses.invalid(field + ": set raw_input_contents or shared_memory_region, not both");
        }
        if (input.hasContents() && input.getContents().getSerializedSize() > 0) {
            // The protocol: contents must not be given when the data comes from raw_input_contents (or a region).
            throw Statuses.invalid(field + ": contents field must not be specified when using "
                    + (raw ? "raw_input_contents" : "shared_memory_region") + " for '" + input.getName()
                    + "' for model '" + request.getModelName() + "'");
        }
        return raw ? memory.bytes(request.getRawInputContents(0), false, null, field)
                : memory.bytes(ByteString.EMPTY, true, shared, field);
    }

    /**
     * The shared-memory reference in a tensor's parameters ({@code shared_memory_region},
     * {@code shared_memory_byte_size}, optional {@code shared_memory_offset}), or null if it has none.
     */
    static SharedMemoryRef sharedMemory(Map<String, InferParameter> parameters, String field) {
        InferParameter region = parameters.get("shared_memory_region");
        if (region == null) {
            return null;
        }
        InferParameter size = parameters.get("shared_memory_byte_size");
        if (size == null) {
            throw Statuses.invalid(field + ".parameters: shared_memory_region needs shared_memory_byte_size");
        }
        InferParameter offset = parameters.get("shared_memory_offset");
        return SharedMemoryRef.newBuilder().setRegion(region.getStringParam())
                .setOffset(offset == null ? 0 : integer(offset, field + ".parameters.shared_memory_offset"))
                .setByteSize(integer(size, field + ".parameters.shared_memory_byte_size")).build();
    }

    /** An integer parameter's value. */
    static long integer(InferParameter parameter, String field) {
        return switch (parameter.getParameterChoiceCase()) {
            case INT64_PARAM -> parameter.getInt64Param();
            case UINT64_PARAM -> parameter.getUint64Param();
            default -> throw Statuses.invalid(field + " must be an integer parameter");
        };
    }

    /** Typed contents, written little-endian into native memory in the tensor's element type. */
    private static MemorySegment typed(InferTensorContents contents, String field, DType dtype,
            RequestImages.Memory memory) {
        String where = field + ".contents";
        MemorySegment out;
        switch (dtype) {
            case BOOL -> {
                out = memory.arena().allocate(contents.getBoolContentsCount());
                for (int i = 0; i < contents.getBoolContentsCount(); i++) {
                    out.set(ValueLayout.JAVA_BYTE, i, (byte) (contents.getBoolContents(i) ? 1 : 0));
                }
            }
            case UINT8, INT8 -> {
                List<Integer> values = dtype == DType.UINT8 ? contents.getUintContentsList()
                        : contents.getIntContentsList();
                out = memory.arena().allocate(values.size());
                for (int i = 0; i < values.size(); i++) {
                    out.set(ValueLayout.JAVA_BYTE, i, values.get(i).byteValue());
                }
            }
            case INT32 -> out = memory.arena().allocateFrom(ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN),
                    contents.getIntContentsList().stream().mapToInt(Integer::intValue).toArray());
            case INT64 -> out = memory.arena().allocateFrom(
                    ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN),
                    contents.getInt64ContentsList().stream().mapToLong(Long::longValue).toArray());
            case FLOAT32 -> {
                out = memory.arena().allocate(4L * contents.getFp32ContentsCount(), 4);
                for (int i = 0; i < contents.getFp32ContentsCount(); i++) {
                    out.setAtIndex(ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN), i,
                            contents.getFp32Contents(i));
                }
            }
            case FLOAT64 -> out = memory.arena().allocateFrom(
                    ValueLayout.JAVA_DOUBLE.withOrder(ByteOrder.LITTLE_ENDIAN),
                    contents.getFp64ContentsList().stream().mapToDouble(Double::doubleValue).toArray());
            default -> throw Statuses.invalid(where + ": " + ElementType.named(dtype).datatype()
                    + " has no typed contents in the protocol; send it in raw_input_contents");
        }
        return out;
    }
}
