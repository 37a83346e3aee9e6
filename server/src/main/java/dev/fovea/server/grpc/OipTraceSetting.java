package dev.fovea.server.grpc;

import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.oip.TraceSettingResponse;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.tracing.TraceConfig;
import dev.fovea.server.tracing.TraceControl;
import dev.fovea.server.tracing.TraceSettings;
import java.util.List;
import java.util.Map;

/**
 * Triton's TraceSetting call over {@link TraceControl}, for the server ({@code model_name} empty) or one model:
 * {@code trace_level} ({@code OFF}, {@code TIMESTAMPS}), {@code trace_rate} and {@code trace_count} are read and set;
 * a setting sent with no value is cleared (a model's then follows the global one, a global one goes back to its
 * {@code --trace-config} value). {@code trace_mode} is {@code opentelemetry} and {@code trace_file} and
 * {@code log_frequency} (Triton's file mode) do not apply: setting them is INVALID_ARGUMENT. Every setting is checked
 * before any is applied, so a bad request changes nothing; the response holds the settings in force, with the count
 * of traces left.
 */
final class OipTraceSetting {

    private OipTraceSetting() {}

    /** {@code model} is null for the global settings, else a model of the repository. */
    static TraceSettingResponse update(TraceSettingRequest request, String model, TraceControl control) {
        TraceControl.Overrides next = control.overrides(model);
        for (Map.Entry<String, TraceSettingRequest.SettingValue> entry : request.getSettingsMap().entrySet()) {
            String field = "settings[" + ClientText.quote(entry.getKey()) + "]";
            List<String> values = entry.getValue().getValueList();
            if (values.size() > 1) {
                throw Statuses.invalid(field + " takes one value, got " + values.size());
            }
            String value = values.isEmpty() ? null : values.getFirst();
            try {
                next = switch (entry.getKey()) {
                    case "trace_level" -> new TraceControl.Overrides(value == null ? null : TraceConfig.level(value),
                            next.rate(), next.count());
                    case "trace_rate" -> new TraceControl.Overrides(next.level(),
                            value == null ? null : TraceConfig.number(value), next.count());
                    case "trace_count" -> new TraceControl.Overrides(next.level(), next.rate(),
                            value == null ? null : TraceConfig.number(value));
                    case "trace_mode", "trace_file", "log_frequency" -> throw new IllegalArgumentException(
                            "cannot be set: Fovea traces with OpenTelemetry (trace_mode opentelemetry), exporting "
                                    + "to the --trace-config opentelemetry,url");
                    default -> throw new IllegalArgumentException("is not a trace setting (trace_level, trace_rate, "
                            + "trace_count)");
                };
                new TraceSettings(next.level() == null ? TraceSettings.Level.OFF : next.level(),
                        next.rate() == null ? 0 : next.rate(), next.count() == null ? -1 : next.count());
            } catch (IllegalArgumentException e) {
                throw Statuses.invalid(field + (value == null ? "" : " " + ClientText.quote(value)) + ": "
                        + e.getMessage());
            }
        }
        if (!request.getSettingsMap().isEmpty()) {
            control.set(model, next);
        }
        return describe(control.settings(model));
    }

    private static TraceSettingResponse describe(TraceSettings settings) {
        return TraceSettingResponse.newBuilder()
                .putSettings("trace_mode", value("opentelemetry"))
                .putSettings("trace_level", value(settings.level().name()))
                .putSettings("trace_rate", value(Long.toString(settings.rate())))
                .putSettings("trace_count", value(Long.toString(settings.count())))
                .build();
    }

    private static TraceSettingResponse.SettingValue value(String value) {
        return TraceSettingResponse.SettingValue.newBuilder().addValue(value).build();
    }
}
