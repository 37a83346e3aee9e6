package dev.fovea.server.tracing;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The trace settings in force, globally and per model, as Triton keeps them: a model may set some settings of its
 * own and follows the global ones for the rest (also when those change later); a global setting that is cleared goes
 * back to its start-up value ({@code --trace-config}), a model's to the global one. Each set of settings in force
 * samples with counters of its own: a model with settings of its own counts its own requests, the others share the
 * global counters. Changing settings restarts the rate's count; the count of traces left carries over unless the
 * change set it.
 *
 * <p>Threads: {@link #scope} is called for every request and only reads volatile fields; changes are synchronized.
 */
public final class TraceControl {

    /**
     * The settings one scope (the server, or one model) sets for itself: a null field is not set there and follows
     * the global setting (for the server: the start-up one).
     */
    public record Overrides(TraceSettings.Level level, Long rate, Long count) {
        public static final Overrides NONE = new Overrides(null, null, null);

        boolean isEmpty() {
            return level == null && rate == null && count == null;
        }

        TraceSettings over(TraceSettings base) {
            return new TraceSettings(level != null ? level : base.level(), rate != null ? rate : base.rate(),
                    count != null ? count : base.count());
        }
    }

    /** The settings in force for some requests, and the counters sampling them. */
    static final class Scope {
        private final TraceSettings settings;
        private final AtomicLong seen = new AtomicLong();
        /** Traces the rate may still start; -1: no limit. */
        private final AtomicLong remaining;

        private Scope(TraceSettings settings, long remaining) {
            this.settings = settings;
            this.remaining = new AtomicLong(remaining);
        }

        boolean on() {
            return settings.level() != TraceSettings.Level.OFF;
        }

        /** Whether this request starts a trace: every {@code rate}th does while traces remain. */
        boolean sample() {
            if (settings.rate() == 0 || seen.incrementAndGet() % settings.rate() != 0) {
                return false;
            }
            while (true) {
                long left = remaining.get();
                if (left == -1) {
                    return true;
                }
                if (left == 0) {
                    return false;
                }
                if (remaining.compareAndSet(left, left - 1)) {
                    return true;
                }
            }
        }

        /** The settings with the count of traces left. */
        TraceSettings current() {
            return settings.withCount(remaining.get());
        }
    }

    private final TraceSettings startup;
    // Guarded by this.
    private Overrides globalOverrides = Overrides.NONE;
    private final Map<String, Overrides> modelOverrides = new HashMap<>();
    // Replaced whole under this; read without it.
    private volatile Scope global;
    private volatile Map<String, Scope> models = Map.of();
    private volatile boolean anyOn;

    public TraceControl(TraceSettings startup) {
        this.startup = Objects.requireNonNull(startup, "startup");
        this.global = new Scope(startup, startup.count());
        this.anyOn = global.on();
    }

    /** Whether some requests may be traced (a level other than OFF globally or for some model). */
    public boolean enabled() {
        return anyOn;
    }

    /** The scope that samples {@code model}'s requests (a model without settings of its own: the global one). */
    Scope scope(String model) {
        Scope own = models.get(model);
        return own != null ? own : global;
    }

    /** The settings in force for {@code model} (null: the global ones), with the count of traces left. */
    public TraceSettings settings(String model) {
        return (model == null ? global : scope(model)).current();
    }

    /** What {@code model} (null: the server) sets itself. */
    public synchronized Overrides overrides(String model) {
        return model == null ? globalOverrides : modelOverrides.getOrDefault(model, Overrides.NONE);
    }

    /**
     * Replaces what {@code model} (null: the server) sets itself; {@link Overrides#NONE} makes a model follow the
     * global settings again, or the global settings the start-up ones.
     *
     * @throws IllegalArgumentException if a value is out of range (see {@link TraceSettings})
     */
    public synchronized void set(String model, Overrides next) {
        Objects.requireNonNull(next, "next");
        Overrides before = overrides(model);
        boolean countSet = !Objects.equals(before.count(), next.count());
        TraceSettings globalSettings = (model == null ? next : globalOverrides).over(startup);
        TraceSettings own = model == null ? null : next.over(globalSettings); // checks the ranges before any change
        if (model == null) {
            globalOverrides = next;
            global = carried(global, globalSettings, countSet);
            Map<String, Scope> rebuilt = new HashMap<>();
            for (Map.Entry<String, Overrides> entry : modelOverrides.entrySet()) {
                Overrides overrides = entry.getValue();
                rebuilt.put(entry.getKey(), carried(models.get(entry.getKey()), overrides.over(globalSettings),
                        countSet && overrides.count() == null));
            }
            models = Map.copyOf(rebuilt);
        } else {
            Map<String, Scope> rebuilt = new HashMap<>(models);
            if (next.isEmpty()) {
                modelOverrides.remove(model);
                rebuilt.remove(model);
            } else {
                modelOverrides.put(model, next);
                rebuilt.put(model, carried(models.get(model), own, countSet));
            }
            models = Map.copyOf(rebuilt);
        }
        anyOn = global.on() || models.values().stream().anyMatch(Scope::on);
    }

    /** A scope for {@code settings}, keeping {@code old}'s traces left unless the count was just set. */
    private Scope carried(Scope old, TraceSettings settings, boolean countSet) {
        long left = old == null || countSet ? settings.count() : old.remaining.get();
        return new Scope(settings, left);
    }
}
