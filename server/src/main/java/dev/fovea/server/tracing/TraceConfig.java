package dev.fovea.server.tracing;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Tracing as {@code fovea serve} starts it, from Triton's {@code --trace-config} values: global settings as
 * {@code SETTING=VALUE} ({@code level}, {@code rate}, {@code count}, {@code mode}) and the exporter's as
 * {@code opentelemetry,SETTING=VALUE} ({@code url}, {@code resource}, {@code bsp_max_queue_size},
 * {@code bsp_schedule_delay}, {@code bsp_max_export_batch_size}). Fovea traces with OpenTelemetry only, so
 * {@code mode=opentelemetry} is accepted and is what happens anyway. Immutable.
 *
 * @param settings the global settings at start (and what clearing one at run time goes back to)
 * @param url where spans go, as OTLP/HTTP protobuf
 * @param resource attributes of every span's resource ({@code service.name} is {@code fovea} unless set)
 * @param scheduleDelayMillis the batch span processor's delay between exports
 */
public record TraceConfig(TraceSettings settings, URI url, Map<String, String> resource, int maxQueueSize,
        long scheduleDelayMillis, int maxExportBatchSize) {

    /** Triton's default OTLP/HTTP endpoint. */
    public static final URI DEFAULT_URL = URI.create("http://localhost:4318/v1/traces");

    /** Off; once turned on at run time, spans go to {@link #DEFAULT_URL}. */
    public static final TraceConfig DEFAULT = new TraceConfig(TraceSettings.DEFAULT, DEFAULT_URL,
            Map.of("service.name", "fovea"), 2048, 5000, 512);

    public TraceConfig {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(url, "url");
        resource = Map.copyOf(resource);
        if (maxQueueSize < 1 || maxExportBatchSize < 1 || maxExportBatchSize > maxQueueSize) {
            throw new IllegalArgumentException("bsp_max_export_batch_size must be in [1, bsp_max_queue_size], got "
                    + maxExportBatchSize + " with a queue of " + maxQueueSize);
        }
        if (scheduleDelayMillis < 0) {
            throw new IllegalArgumentException("bsp_schedule_delay must be >= 0, got " + scheduleDelayMillis);
        }
    }

    /**
     * The configuration that {@code --trace-config} values make, applied in order over {@link #DEFAULT}.
     *
     * @throws IllegalArgumentException naming the value that is malformed, unknown or out of range
     */
    public static TraceConfig parse(List<String> values) {
        TraceSettings settings = DEFAULT.settings();
        URI url = DEFAULT.url();
        Map<String, String> resource = new LinkedHashMap<>(DEFAULT.resource());
        int maxQueueSize = DEFAULT.maxQueueSize();
        long scheduleDelay = DEFAULT.scheduleDelayMillis();
        int maxExportBatchSize = DEFAULT.maxExportBatchSize();
        for (String value : values) {
            String mode = null;
            String setting = value;
            int comma = value.indexOf(',');
            if (comma >= 0) {
                mode = value.substring(0, comma);
                setting = value.substring(comma + 1);
            }
            int equals = setting.indexOf('=');
            if (equals <= 0) {
                throw bad(value, "expected [MODE,]SETTING=VALUE");
            }
            String name = setting.substring(0, equals);
            String v = setting.substring(equals + 1);
            try {
                if (mode == null) {
                    switch (name) {
                        case "level" -> settings = settings.withLevel(level(v));
                        case "rate" -> settings = settings.withRate(number(v));
                        case "count" -> settings = settings.withCount(number(v));
                        case "mode" -> {
                            if (!v.equals("opentelemetry")) {
                                throw new IllegalArgumentException("Fovea traces with OpenTelemetry only "
                                        + "(mode=opentelemetry)");
                            }
                        }
                        default -> throw new IllegalArgumentException("not a global trace setting (level, rate, "
                                + "count, mode); exporter settings take the opentelemetry, prefix");
                    }
                } else if (mode.equals("opentelemetry")) {
                    switch (name) {
                        case "url" -> url = url(v);
                        case "resource" -> {
                            int split = v.indexOf('=');
                            if (split <= 0) {
                                throw new IllegalArgumentException("expected resource=KEY=VALUE");
                            }
                            resource.put(v.substring(0, split), v.substring(split + 1));
                        }
                        case "bsp_max_queue_size" -> maxQueueSize = Math.toIntExact(number(v));
                        case "bsp_schedule_delay" -> scheduleDelay = number(v);
                        case "bsp_max_export_batch_size" -> maxExportBatchSize = Math.toIntExact(number(v));
                        default -> throw new IllegalArgumentException("not an opentelemetry setting (url, resource, "
                                + "bsp_max_queue_size, bsp_schedule_delay, bsp_max_export_batch_size)");
                    }
                } else {
                    throw new IllegalArgumentException("Fovea traces with OpenTelemetry only: the mode must be "
                            + "opentelemetry");
                }
            } catch (IllegalArgumentException | ArithmeticException e) {
                throw bad(value, e.getMessage());
            }
        }
        try {
            return new TraceConfig(settings, url, resource, maxQueueSize, scheduleDelay, maxExportBatchSize);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--trace-config: " + e.getMessage(), e);
        }
    }

    /** A trace level by Triton's name (any case); TENSORS is refused: spans never carry tensor contents. */
    public static TraceSettings.Level level(String name) {
        String upper = name.toUpperCase(Locale.ROOT);
        if (upper.equals("TENSORS")) {
            throw new IllegalArgumentException("level TENSORS is not supported: Fovea's spans carry timestamps only "
                    + "(OFF, TIMESTAMPS)");
        }
        for (TraceSettings.Level level : TraceSettings.Level.values()) {
            if (level.name().equals(upper)) {
                return level;
            }
        }
        throw new IllegalArgumentException("not a trace level (OFF, TIMESTAMPS)");
    }

    /** A whole number as Triton's settings take them: decimal, at most 18 digits, an optional minus sign. */
    public static long number(String value) {
        if (!value.matches("-?[0-9]{1,18}")) {
            throw new IllegalArgumentException("not a whole number");
        }
        return Long.parseLong(value);
    }

    private static URI url(String value) {
        try {
            URI url = new URI(value);
            if (!("http".equals(url.getScheme()) || "https".equals(url.getScheme())) || url.getHost() == null) {
                throw new IllegalArgumentException("the url must be http:// or https:// with a host");
            }
            return url;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a URL: " + e.getMessage());
        }
    }

    private static IllegalArgumentException bad(String value, String why) {
        return new IllegalArgumentException("--trace-config " + value + ": " + why);
    }
}
