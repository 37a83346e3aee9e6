package dev.fovea.server.http;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.server.limits.ClientText;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A KServe v2 REST infer request, as the {@link ModelInferRequest} the gRPC service validates and runs. The body is
 * JSON ({@code id}, {@code parameters}, {@code inputs[{name, shape, datatype, parameters, data}]},
 * {@code outputs[{name, parameters}]}), optionally followed by Triton's binary tensor data: then the
 * {@code Inference-Header-Content-Length} header gives the JSON's length, and each binary input says its byte size
 * in its {@code binary_data_size} parameter, in input order. JSON data becomes {@code raw_input_contents} too, so
 * every check on datatypes, shapes and sizes is the gRPC service's.
 *
 * <p>The body is read twice: once for everything but {@code data} (skipped), once for {@code data}, decoded then
 * straight into an array sized by the declared shape. So memory is bounded by the shape (itself bounded by
 * {@code maxTensorBytes}), whatever order the client wrote the fields in.
 */
final class InferRequests {

    /** Deepest shape accepted; data nesting is bounded by it. */
    static final int MAX_RANK = 32;

    /** The request, and which outputs go back as binary data ({@code allBinary}: all of them). */
    record Parsed(ModelInferRequest request, boolean allBinary, Set<String> binaryOutputs) {
        boolean binary(String output) {
            return allBinary || binaryOutputs.contains(output);
        }
    }

    private static final class Input {
        final ModelInferRequest.InferInputTensor.Builder tensor = ModelInferRequest.InferInputTensor.newBuilder();
        boolean hasShape;
        boolean hasData;
        /** Whether the second pass decodes the data (see {@link #decodable}); then {@code data} holds it. */
        boolean decode;
        ByteString data = ByteString.EMPTY;
        long binarySize = -1;
    }

    private InferRequests() {}

    /**
     * Parses {@code body}; {@code jsonLength} is the Inference-Header-Content-Length (-1 when absent: all JSON). The
     * raw contents of binary inputs view {@code body}, which must stay alive until the service has copied them.
     */
    static Parsed parse(String model, String version, ByteBuf body, long jsonLength, long maxTensorBytes) {
        long total = body.readableBytes();
        if (jsonLength > total || jsonLength == 0) {
            throw JsonTensorData.bad("Inference-Header-Content-Length " + jsonLength + " does not fit a body of "
                    + total + " bytes");
        }
        int json = (int) (jsonLength < 0 ? total : jsonLength);
        ModelInferRequest.Builder request = ModelInferRequest.newBuilder().setModelName(model).setModelVersion(version);
        List<Input> inputs = new ArrayList<>();
        Set<String> binaryOutputs = new HashSet<>();
        boolean allBinary;
        try (JsonReader in = reader(body, json)) {
            allBinary = readRequest(in, request, inputs, binaryOutputs);
            if (in.peek() != JsonToken.END_DOCUMENT) {
                throw JsonTensorData.bad("the body holds more than one JSON value");
            }
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw badJson(e);
        }
        for (Input input : inputs) {
            input.decode = input.hasData && decodable(input, maxTensorBytes);
        }
        if (inputs.stream().anyMatch(input -> input.decode)) {
            try (JsonReader in = reader(body, json)) {
                readData(in, inputs);
            } catch (IOException | IllegalStateException | NumberFormatException e) {
                throw badJson(e);
            }
        }
        long offset = json;
        for (int i = 0; i < inputs.size(); i++) {
            Input input = inputs.get(i);
            if (input.binarySize >= 0) {
                if (input.hasData) {
                    throw JsonTensorData.bad("inputs[" + i + "]: give data or binary_data_size, not both");
                }
                if (input.binarySize > total - offset) {
                    throw JsonTensorData.bad("inputs[" + i + "].parameters.binary_data_size " + input.binarySize
                            + " runs past the body's " + (total - json) + " binary bytes");
                }
                request.addRawInputContents(UnsafeByteOperations.unsafeWrap(
                        body.nioBuffer(body.readerIndex() + (int) offset, (int) input.binarySize)));
                offset += input.binarySize;
            } else if (input.hasData) {
                request.addRawInputContents(input.data);
            }
            request.addInputs(input.tensor);
        }
        if (offset != total) {
            throw JsonTensorData.bad("the body has " + (total - offset) + " bytes after the JSON that no input's "
                    + "binary_data_size accounts for");
        }
        return new Parsed(request.build(), allBinary, binaryOutputs);
    }

    private static JsonReader reader(ByteBuf body, int length) {
        return new JsonReader(new InputStreamReader(new ByteBufInputStream(body.slice(body.readerIndex(), length)),
                StandardCharsets.UTF_8));
    }

    private static HttpErrors.BadRequest badJson(Exception e) {
        // Gson's messages name the position, not the content, so they are safe to return.
        return JsonTensorData.bad("invalid JSON: " + ClientText.quote(String.valueOf(e.getMessage())));
    }

    private static boolean readRequest(JsonReader in, ModelInferRequest.Builder request, List<Input> inputs,
            Set<String> binaryOutputs) throws IOException {
        boolean allBinary = false;
        in.beginObject();
        while (in.hasNext()) {
            switch (in.nextName()) {
                case "id" -> request.setId(in.nextString());
                case "parameters" -> {
                    Map<String, InferParameter> parameters = Parameters.read(in, "parameters");
                    InferParameter binary = parameters.remove("binary_data_output");
                    allBinary = binary != null && Parameters.bool(binary, "parameters.binary_data_output");
                    request.putAllParameters(parameters);
                }
                case "inputs" -> {
                    in.beginArray();
                    while (in.hasNext()) {
                        inputs.add(readInput(in, "inputs[" + inputs.size() + "]"));
                    }
                    in.endArray();
                }
                case "outputs" -> {
                    in.beginArray();
                    while (in.hasNext()) {
                        request.addOutputs(readOutput(in, "outputs[" + request.getOutputsCount() + "]",
                                binaryOutputs));
                    }
                    in.endArray();
                }
                default -> in.skipValue();
            }
        }
        in.endObject();
        return allBinary;
    }

    private static Input readInput(JsonReader in, String field) throws IOException {
        Input input = new Input();
        in.beginObject();
        while (in.hasNext()) {
            switch (in.nextName()) {
                case "name" -> input.tensor.setName(in.nextString());
                case "datatype" -> input.tensor.setDatatype(in.nextString());
                case "shape" -> {
                    input.hasShape = true;
                    in.beginArray();
                    while (in.hasNext()) {
                        if (input.tensor.getShapeCount() == MAX_RANK) {
                            throw JsonTensorData.bad(field + ".shape: more than " + MAX_RANK + " dimensions");
                        }
                        input.tensor.addShape(JsonTensorData.integer(in.nextString(), field + ".shape"));
                    }
                    in.endArray();
                }
                case "parameters" -> {
                    Map<String, InferParameter> parameters = Parameters.read(in, field + ".parameters");
                    InferParameter size = parameters.remove("binary_data_size");
                    if (size != null) {
                        input.binarySize = Parameters.integer(size, field + ".parameters.binary_data_size");
                        if (input.binarySize < 0) {
                            throw JsonTensorData.bad(field + ".parameters.binary_data_size must be >= 0");
                        }
                    }
                    input.tensor.putAllParameters(parameters);
                }
                case "data" -> {
                    input.hasData = true;
                    in.skipValue();
                }
                default -> in.skipValue();
            }
        }
        in.endObject();
        return input;
    }

    private static ModelInferRequest.InferRequestedOutputTensor readOutput(JsonReader in, String field,
            Set<String> binaryOutputs) throws IOException {
        ModelInferRequest.InferRequestedOutputTensor.Builder output =
                ModelInferRequest.InferRequestedOutputTensor.newBuilder();
        boolean binary = false;
        in.beginObject();
        while (in.hasNext()) {
            switch (in.nextName()) {
                case "name" -> output.setName(in.nextString());
                case "parameters" -> {
                    Map<String, InferParameter> parameters = Parameters.read(in, field + ".parameters");
                    InferParameter flag = parameters.remove("binary_data");
                    binary = flag != null && Parameters.bool(flag, field + ".parameters.binary_data");
                    output.putAllParameters(parameters);
                }
                default -> in.skipValue();
            }
        }
        in.endObject();
        if (binary) {
            binaryOutputs.add(output.getName());
        }
        return output.build();
    }

    /**
     * Whether the second pass decodes this input's data: its datatype and shape must be known and within the limit.
     * Otherwise the data is left out and the service rejects the input with its usual message (unknown datatype,
     * negative dimension...), or this throws for a shape over the limit.
     */
    private static boolean decodable(Input input, long maxTensorBytes) {
        int size = JsonTensorData.elementSize(input.tensor.getDatatype());
        if (size < 0 || !input.hasShape || input.tensor.getShapeList().stream().anyMatch(d -> d < 0)) {
            return false;
        }
        long bytes = Math.max(size, 1);
        try {
            for (long dimension : input.tensor.getShapeList()) {
                bytes = Math.multiplyExact(bytes, dimension);
            }
        } catch (ArithmeticException e) {
            bytes = Long.MAX_VALUE;
        }
        if (bytes > maxTensorBytes) {
            throw JsonTensorData.bad("input " + ClientText.quote(input.tensor.getName()) + ": shape "
                    + input.tensor.getShapeList() + " needs more than the server's limit of " + maxTensorBytes
                    + " bytes");
        }
        return true;
    }

    private static long elements(Input input) {
        long count = 1;
        for (long dimension : input.tensor.getShapeList()) {
            count *= dimension;
        }
        return count;
    }

    /** The second pass: decodes each input's data into its raw contents. */
    private static void readData(JsonReader in, List<Input> inputs) throws IOException {
        in.beginObject();
        while (in.hasNext()) {
            if (!in.nextName().equals("inputs")) {
                in.skipValue();
                continue;
            }
            in.beginArray();
            for (int i = 0; in.hasNext(); i++) {
                Input input = inputs.get(i);
                in.beginObject();
                while (in.hasNext()) {
                    if (in.nextName().equals("data") && input.decode) {
                        input.data = JsonTensorData.read(in, input.tensor.getDatatype(), elements(input),
                                input.tensor.getShapeCount(), "inputs[" + i + "].data");
                    } else {
                        in.skipValue();
                    }
                }
                in.endObject();
            }
            in.endArray();
        }
        in.endObject();
    }
}
