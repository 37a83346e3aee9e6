package dev.fovea.server.tracing;

/**
 * What to trace, in Triton's terms: the level ({@code OFF} or {@code TIMESTAMPS}), the rate (1 in {@code rate}
 * requests starts a trace; 0: none does, only requests that bring a sampled W3C {@code traceparent} are traced) and
 * the count (how many more traces the rate may start; -1: no limit). Immutable.
 */
public record TraceSettings(Level level, long rate, long count) {

    /** Triton's defaults: off; when turned on, every 1000th request, without limit. */
    public static final TraceSettings DEFAULT = new TraceSettings(Level.OFF, 1000, -1);

    /** Triton's trace levels that apply to spans ({@code TENSORS} does not: Fovea never traces tensor contents). */
    public enum Level {
        OFF,
        TIMESTAMPS
    }

    public TraceSettings {
        if (level == null) {
            throw new IllegalArgumentException("level must not be null");
        }
        if (rate < 0 || rate > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("rate must be in [0, " + Integer.MAX_VALUE + "], got " + rate);
        }
        if (count < -1) {
            throw new IllegalArgumentException("count must be -1 (no limit) or >= 0, got " + count);
        }
    }

    public TraceSettings withLevel(Level level) {
        return new TraceSettings(level, rate, count);
    }

    public TraceSettings withRate(long rate) {
        return new TraceSettings(level, rate, count);
    }

    public TraceSettings withCount(long count) {
        return new TraceSettings(level, rate, count);
    }
}
