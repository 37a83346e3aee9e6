package dev.fovea.server.http;

import com.google.gson.stream.JsonToken;
import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.oip.TraceSettingResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.List;
import java.util.Map;

/**
 * Triton's trace extension over HTTP, as the TraceSetting call's messages: a request body is a JSON object of
 * settings, each a string, an array of strings or null (clear it); the answer is the settings in force, with
 * {@code trace_level} as an array as Triton writes it.
 */
final class TraceSettingsJson {

    private TraceSettingsJson() {}

    static TraceSettingRequest parse(FullHttpRequest request, String model) {
        TraceSettingRequest.Builder setting = TraceSettingRequest.newBuilder().setModelName(model);
        Routes.readObject(request, (in, name) -> {
            TraceSettingRequest.SettingValue.Builder value = TraceSettingRequest.SettingValue.newBuilder();
            JsonToken token = in.peek();
            if (token == JsonToken.NULL) {
                in.nextNull();
            } else if (token == JsonToken.BEGIN_ARRAY) {
                in.beginArray();
                while (in.hasNext()) {
                    value.addValue(in.nextString());
                }
                in.endArray();
            } else {
                value.addValue(in.nextString());
            }
            setting.putSettings(name, value.build());
        });
        return setting.build();
    }

    static Reply render(TraceSettingResponse response) {
        return Reply.json(HttpResponseStatus.OK, json -> {
            json.beginObject();
            for (Map.Entry<String, TraceSettingResponse.SettingValue> entry : response.getSettingsMap().entrySet()) {
                List<String> values = entry.getValue().getValueList();
                json.name(entry.getKey());
                if (entry.getKey().equals("trace_level")) {
                    json.beginArray();
                    for (String value : values) {
                        json.value(value);
                    }
                    json.endArray();
                } else {
                    json.value(values.isEmpty() ? "" : values.getFirst());
                }
            }
            json.endObject();
        });
    }
}
