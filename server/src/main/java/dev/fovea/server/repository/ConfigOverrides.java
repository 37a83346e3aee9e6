package dev.fovea.server.repository;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.fovea.server.limits.ClientText;
import dev.fovea.v1.ModelConfig;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A load request's {@code config} (Triton's override of config.pbtxt): JSON of the model's layout's config message,
 * {@code fovea.v1.ModelConfig} or {@code inference.ModelConfig}. It is a client's text: bounded in size and nesting
 * before any parser sees it, and every parse error is reported as INVALID with the parser's reason quoted.
 */
final class ConfigOverrides {

    /** The most characters of a config override; real configs are a few hundred. */
    static final int MAX_CHARS = 64 * 1024;
    /** The deepest nesting of objects and arrays; a model config nests four levels. */
    static final int MAX_DEPTH = 32;

    private ConfigOverrides() {}

    /** The override for the model in {@code folder}, or null when {@code json} is empty (no override). */
    static ModelFolder.Override parse(Path folder, String json) throws IOException {
        if (json.isEmpty()) {
            return null;
        }
        if (json.length() > MAX_CHARS) {
            throw invalid(json.length() + " characters; at most " + MAX_CHARS);
        }
        if (depth(json) > MAX_DEPTH) {
            throw invalid("nested deeper than " + MAX_DEPTH + " levels");
        }
        boolean triton = TritonConfigs.isTritonLayout(folder);
        try {
            if (triton) {
                dev.fovea.oip.ModelConfig.Builder config = dev.fovea.oip.ModelConfig.newBuilder();
                JsonFormat.parser().merge(json, config);
                return new ModelFolder.Override(null, config.build(), json);
            }
            ModelConfig.Builder config = ModelConfig.newBuilder();
            JsonFormat.parser().merge(json, config);
            return new ModelFolder.Override(config.build(), null, json);
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            throw invalid("not a valid " + (triton ? "inference.ModelConfig" : "fovea.v1.ModelConfig") + " in JSON: "
                    + ClientText.quote(String.valueOf(e.getMessage())));
        }
    }

    /** The deepest nesting of {@code [} and <code>{</code> outside strings. */
    private static int depth(String json) {
        int depth = 0;
        int deepest = 0;
        boolean inString = false;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '[' || c == '{') {
                deepest = Math.max(deepest, ++depth);
            } else if (c == ']' || c == '}') {
                depth--;
            }
        }
        return deepest;
    }

    private static ModelControlException invalid(String reason) {
        return new ModelControlException(ModelControlException.Reason.INVALID, "config: " + reason);
    }
}
