package dev.fovea.server.grpc;

import dev.fovea.oip.LogSettingsRequest;
import dev.fovea.oip.LogSettingsResponse;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.logging.LogSettings;
import dev.fovea.server.serving.Statuses;
import io.grpc.Status;
import java.util.Map;

/**
 * Triton's LogSettings call over {@link LogSettings}: every setting a request names is checked (known key, right
 * type, allowed value) before any is applied, so a bad request changes nothing; the response holds every setting.
 */
final class OipLogSettings {

    private OipLogSettings() {}

    static LogSettingsResponse update(LogSettingsRequest request, LogSettings settings) {
        LogSettings.State next = settings.state();
        for (Map.Entry<String, LogSettingsRequest.SettingValue> entry : request.getSettingsMap().entrySet()) {
            LogSettingsRequest.SettingValue value = entry.getValue();
            String field = "settings[" + ClientText.quote(entry.getKey()) + "]";
            next = switch (entry.getKey()) {
                case "log_info" -> next.withInfo(bool(value, field));
                case "log_warning" -> next.withWarning(bool(value, field));
                case "log_error" -> next.withError(bool(value, field));
                case "log_verbose_level" -> next.withVerboseLevel(verboseLevel(value, field));
                case "log_format" -> next.withFormat(format(value, field));
                case "log_file" -> {
                    if (!string(value, field).isEmpty()) {
                        throw Status.UNIMPLEMENTED.withDescription(field + ": Fovea logs to stderr only; a log "
                                + "file cannot be set").asRuntimeException();
                    }
                    yield next;
                }
                default -> throw Statuses.invalid(field + " is not a log setting (log_file, log_info, "
                        + "log_warning, log_error, log_verbose_level, log_format)");
            };
        }
        if (!request.getSettingsMap().isEmpty()) {
            settings.apply(next);
        }
        return describe(settings.state());
    }

    private static LogSettingsResponse describe(LogSettings.State state) {
        return LogSettingsResponse.newBuilder()
                .putSettings("log_file", LogSettingsResponse.SettingValue.newBuilder().setStringParam("").build())
                .putSettings("log_info", bool(state.info()))
                .putSettings("log_warning", bool(state.warning()))
                .putSettings("log_error", bool(state.error()))
                .putSettings("log_verbose_level",
                        LogSettingsResponse.SettingValue.newBuilder().setUint32Param(state.verboseLevel()).build())
                .putSettings("log_format", LogSettingsResponse.SettingValue.newBuilder()
                        .setStringParam(state.format().wireName()).build())
                .build();
    }

    private static LogSettingsResponse.SettingValue bool(boolean on) {
        return LogSettingsResponse.SettingValue.newBuilder().setBoolParam(on).build();
    }

    private static boolean bool(LogSettingsRequest.SettingValue value, String field) {
        if (value.getParameterChoiceCase() != LogSettingsRequest.SettingValue.ParameterChoiceCase.BOOL_PARAM) {
            throw Statuses.invalid(field + " must be a bool_param");
        }
        return value.getBoolParam();
    }

    private static int verboseLevel(LogSettingsRequest.SettingValue value, String field) {
        if (value.getParameterChoiceCase() != LogSettingsRequest.SettingValue.ParameterChoiceCase.UINT32_PARAM) {
            throw Statuses.invalid(field + " must be a uint32_param");
        }
        // uint32 on the wire: levels past 3 all mean "everything", so clamp instead of reading it as negative.
        return (int) Math.min(Integer.toUnsignedLong(value.getUint32Param()), 3);
    }

    private static LogSettings.Format format(LogSettingsRequest.SettingValue value, String field) {
        LogSettings.Format format = LogSettings.Format.named(string(value, field));
        if (format == null) {
            throw Statuses.invalid(field + " " + ClientText.quote(value.getStringParam())
                    + " is not a log format (default, ISO8601)");
        }
        return format;
    }

    private static String string(LogSettingsRequest.SettingValue value, String field) {
        if (value.getParameterChoiceCase() != LogSettingsRequest.SettingValue.ParameterChoiceCase.STRING_PARAM) {
            throw Statuses.invalid(field + " must be a string_param");
        }
        return value.getStringParam();
    }
}
