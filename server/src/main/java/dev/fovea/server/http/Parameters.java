package dev.fovea.server.http;

import com.google.gson.stream.JsonReader;
import dev.fovea.oip.InferParameter;
import dev.fovea.server.limits.ClientText;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * KServe v2 JSON {@code parameters} objects as the protocol's {@link InferParameter}s: strings, booleans, integers
 * ({@code int64_param}) and other numbers ({@code double_param}). Nested values have no InferParameter form.
 */
final class Parameters {

    private Parameters() {}

    static Map<String, InferParameter> read(JsonReader in, String field) throws IOException {
        Map<String, InferParameter> parameters = new LinkedHashMap<>();
        in.beginObject();
        while (in.hasNext()) {
            String name = in.nextName();
            InferParameter.Builder parameter = InferParameter.newBuilder();
            switch (in.peek()) {
                case STRING -> parameter.setStringParam(in.nextString());
                case BOOLEAN -> parameter.setBoolParam(in.nextBoolean());
                case NUMBER -> {
                    String text = in.nextString();
                    if (text.matches("-?[0-9]+")) {
                        parameter.setInt64Param(JsonTensorData.integer(text, field + "." + ClientText.quote(name)));
                    } else {
                        parameter.setDoubleParam(Double.parseDouble(text));
                    }
                }
                default -> throw JsonTensorData.bad(field + "." + ClientText.quote(name)
                        + ": a parameter is a string, a number or a boolean, got " + in.peek());
            }
            parameters.put(name, parameter.build());
        }
        in.endObject();
        return parameters;
    }

    static boolean bool(InferParameter parameter, String field) {
        if (parameter.getParameterChoiceCase() != InferParameter.ParameterChoiceCase.BOOL_PARAM) {
            throw JsonTensorData.bad(field + " must be true or false");
        }
        return parameter.getBoolParam();
    }

    static long integer(InferParameter parameter, String field) {
        if (parameter.getParameterChoiceCase() != InferParameter.ParameterChoiceCase.INT64_PARAM) {
            throw JsonTensorData.bad(field + " must be an integer");
        }
        return parameter.getInt64Param();
    }
}
