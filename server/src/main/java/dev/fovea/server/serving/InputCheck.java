package dev.fovea.server.serving;

import dev.fovea.server.inference.InputImage;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.model.ModelSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * Checks a tensor input against the input its model declares, before anything is queued, as Triton does: the
 * datatype, the rank and every fixed dimension (-1 in the config matches any size); then gives the shape one batch
 * row has when it reaches the model, after the config's {@code reshape}. Both APIs call it, with Triton's wording.
 *
 * <p>Only Triton-layout models declare their tensor input; a Fovea-layout model declares pictures and takes any other
 * tensor as it is (see the README), so its tensors pass unchanged.
 */
public final class InputCheck {

    private InputCheck() {}

    /**
     * The shape of one row as the model takes it.
     *
     * @param datatype the tensor's datatype as the Open Inference Protocol names it ({@code FP32}, ...)
     * @param batch the rows sent, for the message
     * @param row the shape of one row as sent
     * @throws dev.fovea.server.inference.InferenceException INVALID_INPUT naming the input, expected and received
     */
    public static long[] rowShape(ModelSpec model, String datatype, long batch, long[] row) {
        if (model.takesPictures()) {
            return row;
        }
        ModelSpec.Tensor declared = model.input();
        String expectedType = declared.type().datatype();
        if (!datatype.equals(expectedType)) {
            throw Statuses.invalid("inference input '" + declared.name() + "' data-type is "
                    + ClientText.quote(datatype) + ", but model '" + model.name() + "' expects '" + expectedType + "'");
        }
        long[] dims = declared.dims().stream().mapToLong(Long::longValue).toArray();
        if (!matches(dims, row)) {
            throw Statuses.invalid("unexpected shape for input '" + declared.name() + "' for model '"
                    + model.name() + "'. Expected " + shape(-1, dims) + ", got " + shape(batch, row));
        }
        if (declared.reshape().isEmpty()) {
            return row;
        }
        return reshaped(dims, declared.reshape().stream().mapToLong(Long::longValue).toArray(), row);
    }

    /**
     * fovea.v1's images checked the same way: each raw tensor is one row (its own shape, without the batch), and
     * comes back with the shape the model takes. Pictures pass unchanged.
     */
    public static List<InputImage> rows(ModelSpec model, List<InputImage> images) {
        if (model.takesPictures()) {
            return images;
        }
        List<InputImage> rows = new ArrayList<>(images.size());
        for (InputImage image : images) {
            if (image instanceof InputImage.Tensor tensor) {
                long[] shape = rowShape(model, ElementType.named(tensor.dtype()).datatype(), images.size(), tensor.shape());
                rows.add(shape == tensor.shape() ? tensor : new InputImage.Tensor(tensor.dtype(), shape, tensor.data()));
            } else {
                rows.add(image);
            }
        }
        return rows;
    }

    private static boolean matches(long[] dims, long[] row) {
        if (dims.length != row.length) {
            return false;
        }
        for (int d = 0; d < dims.length; d++) {
            if (dims[d] >= 0 && dims[d] != row[d]) {
                return false;
            }
        }
        return true;
    }

    /**
     * The row reshaped as Triton does: the reshape's fixed dims as written, its variable (-1) dims taking the sizes of
     * the declared dims' variable dims, in order (the repository checked at load that both have as many).
     */
    private static long[] reshaped(long[] dims, long[] reshape, long[] row) {
        long[] variable = LongStream.range(0, dims.length).filter(d -> dims[(int) d] < 0)
                .map(d -> row[(int) d]).toArray();
        long[] out = reshape.clone();
        int next = 0;
        for (int d = 0; d < out.length; d++) {
            if (out[d] < 0) {
                out[d] = variable[next++];
            }
        }
        return out;
    }

    private static String shape(long batch, long[] row) {
        return LongStream.concat(LongStream.of(batch), Arrays.stream(row)).mapToObj(Long::toString)
                .collect(Collectors.joining(",", "[", "]"));
    }
}
