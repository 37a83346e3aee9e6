package dev.fovea.server.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.server.inference.Prediction;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.inference.Softmax;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.sharedmemory.Caller;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.torch.DType;
import dev.fovea.v1.SharedMemoryRef;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The outputs of an Open Inference Protocol request: which ones the caller asked for (all, by default), checked
 * before the model runs, and the response built from the predictions afterwards.
 *
 * <p>Raw outputs go into {@code raw_output_contents} as views of the batch's output memory (the response marshaller
 * frees it after the send), the request's rows concatenated without a copy. An output requested with the
 * {@code classification} parameter (Triton's classification extension) comes back as BYTES {@code [N, k]} strings
 * {@code "value:index[:label]"}, the top k of the raw output row (all of them if k is larger). An output requested
 * with shared-memory parameters is written into that region instead, and its {@code raw_output_contents} entry left
 * empty.
 */
final class InferOutputs {

    /** One output the caller wants: the model's output index, and how; {@code sharedMemory} null for inline. */
    record Wanted(int index, String name, int classification, SharedMemoryRef sharedMemory) {}

    private InferOutputs() {}

    /** The outputs to return, validated against the model before anything runs. */
    static List<Wanted> wanted(ModelInferRequest request, ServedModel model) {
        List<ModelSpec.Tensor> outputs = model.spec().outputs();
        List<Wanted> wanted = new ArrayList<>();
        if (request.getOutputsCount() == 0) {
            for (int i = 0; i < outputs.size(); i++) {
                wanted.add(new Wanted(i, outputs.get(i).name(), 0, null));
            }
            return wanted;
        }
        for (int r = 0; r < request.getOutputsCount(); r++) {
            ModelInferRequest.InferRequestedOutputTensor requested = request.getOutputs(r);
            String field = "outputs[" + r + "]";
            int index = -1;
            for (int i = 0; i < outputs.size(); i++) {
                if (outputs.get(i).name().equals(requested.getName())) {
                    index = i;
                }
            }
            if (index < 0) {
                throw Statuses.invalid(field + ".name: model " + model.name() + " has no output "
                        + ClientText.quote(requested.getName()) + " (outputs: "
                        + outputs.stream().map(ModelSpec.Tensor::name).toList() + ")");
            }
            Map<String, InferParameter> parameters = requested.getParametersMap();
            int classification = 0;
            if (parameters.containsKey("classification")) {
                classification = classification(parameters.get("classification"),
                        field + ".parameters.classification");
            }
            wanted.add(new Wanted(index, requested.getName(), classification,
                    InferInputs.sharedMemory(parameters, field)));
        }
        return wanted;
    }

    /**
     * The classes to return per row: at least 1; larger values are a cap, never a size (the output's length caps
     * them when the response is built), so a client's 2^63-1 costs what the model's classes cost.
     */
    private static int classification(InferParameter parameter, String field) {
        long k = InferInputs.integer(parameter, field);
        boolean unsigned = parameter.getParameterChoiceCase() == InferParameter.ParameterChoiceCase.UINT64_PARAM;
        if (unsigned ? k == 0 : k < 1) {
            throw Statuses.invalid(field + " must be at least 1, got "
                    + (unsigned ? Long.toUnsignedString(k) : Long.toString(k)));
        }
        // A uint64 from 2^63 on reads as negative here: as large as any cap.
        return k < 0 ? Integer.MAX_VALUE : (int) Math.min(k, Integer.MAX_VALUE);
    }

    /**
     * The response for {@code predictions}, whose raw outputs it views. Shared-memory outputs are copied into their
     * regions now, as {@code caller} (who sent the request; the registry checks it may write there).
     */
    static ModelInferResponse toResponse(ModelInferRequest request, ServedModel model, List<Wanted> wanted,
            Predictions predictions, SharedMemoryRegistry regions, Caller caller) {
        ModelInferResponse.Builder response = ModelInferResponse.newBuilder().setModelName(model.name())
                .setModelVersion(model.version()).setId(request.getId());
        int rows = predictions.size();
        // The model's labels are output 0's (labels.txt, or output 0's label_filename in a Triton config).
        List<String> labels = model.spec().labels();
        for (Wanted output : wanted) {
            List<Prediction.OutputTensor> tensors = new ArrayList<>(rows);
            for (Prediction prediction : predictions.list()) {
                tensors.add(prediction.outputs().get(output.index()));
            }
            Prediction.OutputTensor first = tensors.getFirst();
            ModelInferResponse.InferOutputTensor.Builder tensor = response.addOutputsBuilder().setName(output.name());
            ByteString bytes;
            if (output.classification() > 0) {
                bytes = classification(tensors, output, output.index() == 0 ? labels : List.of(), tensor, rows);
            } else {
                tensor.setDatatype(ElementType.named(first.dtype()).datatype()).addShape(rows);
                for (long size : first.shape()) {
                    tensor.addShape(size);
                }
                bytes = ByteString.EMPTY;
                for (Prediction.OutputTensor row : tensors) {
                    // A view of tensor memory, never written again; the response marshaller frees it after the send.
                    bytes = bytes.concat(UnsafeByteOperations.unsafeWrap(row.data().asByteBuffer()));
                }
            }
            if (output.sharedMemory() != null) {
                SharedMemoryRef target = output.sharedMemory();
                String field = "outputs '" + output.name() + "'";
                if (bytes.size() > target.getByteSize()) {
                    throw Statuses.invalid(field + ": " + bytes.size() + " bytes do not fit shared_memory_byte_size "
                            + target.getByteSize());
                }
                regions.write(caller, target.getRegion(), target.getOffset(),
                        bytes.asReadOnlyByteBufferList().stream().map(MemorySegment::ofBuffer).toList(), field);
                tensor.putParameters("shared_memory_region", InferParameter.newBuilder()
                        .setStringParam(target.getRegion()).build());
                tensor.putParameters("shared_memory_byte_size", InferParameter.newBuilder()
                        .setInt64Param(bytes.size()).build());
                if (target.getOffset() != 0) {
                    tensor.putParameters("shared_memory_offset", InferParameter.newBuilder()
                            .setInt64Param(target.getOffset()).build());
                }
                bytes = ByteString.EMPTY;
            }
            response.addRawOutputContents(bytes);
        }
        return response.build();
    }

    /** The top k of each row, as Triton's classification extension writes them: "value:index[:label]". */
    private static ByteString classification(List<Prediction.OutputTensor> rows, Wanted output, List<String> labels,
            ModelInferResponse.InferOutputTensor.Builder tensor, int batch) {
        if (rows.getFirst().dtype() != DType.FLOAT32) {
            throw Statuses.invalid("outputs '" + output.name() + "': classification needs an FP32 output, this one is "
                    + ElementType.named(rows.getFirst().dtype()).datatype());
        }
        int k = output.classification();
        ByteString.Output strings = ByteString.newOutput();
        for (Prediction.OutputTensor row : rows) {
            float[] values = row.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
            k = Math.min(k, values.length);
            for (int index : Softmax.topK(values, k)) {
                String entry = values[index] + ":" + index + (index < labels.size() ? ":" + labels.get(index) : "");
                byte[] utf8 = entry.getBytes(StandardCharsets.UTF_8);
                int length = utf8.length;
                strings.write(new byte[] {(byte) length, (byte) (length >> 8), (byte) (length >> 16),
                    (byte) (length >> 24)}, 0, 4);
                strings.write(utf8, 0, length);
            }
        }
        tensor.setDatatype(ElementType.BYTES.datatype()).addShape(batch).addShape(k);
        return strings.toByteString();
    }
}
