package dev.fovea.server.http;

import com.google.gson.stream.JsonWriter;
import com.google.protobuf.ByteString;
import dev.fovea.oip.InferParameter;
import dev.fovea.oip.ModelInferResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A {@link ModelInferResponse} in KServe v2 JSON ({@code model_name}, {@code model_version}, {@code id},
 * {@code outputs[{name, datatype, shape, parameters, data}]}), with the outputs the caller asked for as binary
 * (Triton's binary tensor extension) after the JSON: each such output carries {@code binary_data_size} instead of
 * {@code data}, and the caller sends the {@code Inference-Header-Content-Length} header with the JSON's length.
 * Outputs written to shared memory carry their region parameters and no data, as over gRPC.
 */
final class InferResponses {

    /** The body, and the JSON's length when binary parts follow it (-1: JSON only). */
    record Body(ByteBuf content, int jsonLength) {}

    private InferResponses() {}

    /**
     * Renders {@code response}. Binary outputs are views of the response's bytes, not copies: the caller keeps the
     * memory behind them alive until the body has been written.
     */
    static Body render(ModelInferResponse response, InferRequests.Parsed request, ByteBufAllocator allocator) {
        ByteBuf json = allocator.buffer();
        CompositeByteBuf body = Unpooled.compositeBuffer(1 + response.getOutputsCount());
        boolean binary = false;
        try (JsonWriter out = new JsonWriter(new OutputStreamWriter(new ByteBufOutputStream(json),
                StandardCharsets.UTF_8))) {
            out.beginObject();
            out.name("model_name").value(response.getModelName());
            out.name("model_version").value(response.getModelVersion());
            if (!response.getId().isEmpty()) {
                out.name("id").value(response.getId());
            }
            out.name("outputs").beginArray();
            for (int i = 0; i < response.getOutputsCount(); i++) {
                ModelInferResponse.InferOutputTensor output = response.getOutputs(i);
                ByteString bytes = response.getRawOutputContents(i);
                boolean inSharedMemory = output.containsParameters("shared_memory_region");
                boolean asBinary = !inSharedMemory && request.binary(output.getName());
                out.beginObject();
                out.name("name").value(output.getName());
                out.name("datatype").value(output.getDatatype());
                out.name("shape").beginArray();
                for (long size : output.getShapeList()) {
                    out.value(size);
                }
                out.endArray();
                if (inSharedMemory || asBinary) {
                    out.name("parameters").beginObject();
                    for (Map.Entry<String, InferParameter> parameter : output.getParametersMap().entrySet()) {
                        out.name(parameter.getKey());
                        writeParameter(out, parameter.getValue());
                    }
                    if (asBinary) {
                        out.name("binary_data_size").value(bytes.size());
                    }
                    out.endObject();
                }
                if (asBinary) {
                    binary = true;
                    for (ByteBuffer piece : bytes.asReadOnlyByteBufferList()) {
                        body.addComponent(true, Unpooled.wrappedBuffer(piece));
                    }
                } else if (!inSharedMemory) {
                    out.name("data");
                    JsonTensorData.write(out, output.getDatatype(), bytes.asReadOnlyByteBuffer());
                }
                out.endObject();
            }
            out.endArray();
            out.endObject();
        } catch (IOException e) {
            body.release();
            json.release();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            body.release();
            json.release();
            throw e;
        }
        int jsonLength = json.readableBytes();
        body.addComponent(true, 0, json);
        return new Body(body, binary ? jsonLength : -1);
    }

    private static void writeParameter(JsonWriter out, InferParameter parameter) throws IOException {
        switch (parameter.getParameterChoiceCase()) {
            case BOOL_PARAM -> out.value(parameter.getBoolParam());
            case INT64_PARAM -> out.value(parameter.getInt64Param());
            case UINT64_PARAM -> out.jsonValue(Long.toUnsignedString(parameter.getUint64Param()));
            case DOUBLE_PARAM -> ProtoJson.number(out, parameter.getDoubleParam());
            default -> out.value(parameter.getStringParam());
        }
    }
}
