package dev.fovea.server.logging;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.logging.Filter;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The server's log settings as Triton's log settings extension names them, applied to java.util.logging's root
 * logger and its handlers: {@code log_info}, {@code log_warning}, {@code log_error} switch each severity on or off,
 * {@code log_verbose_level} (0 off; 1, 2, 3+ let FINE, FINER, FINEST through) and {@code log_format}
 * ({@code default}: the JDK's format; {@code ISO8601}: one line, {@code 2026-11-30T12:00:00.000Z I logger] message}).
 * Triton's {@code log_file} is not supported: Fovea logs to stderr, where the process's supervisor collects it.
 *
 * <p>Thread-safe: settings are an immutable {@link State} swapped atomically; the handlers' filter reads the current
 * one for each record.
 */
public final class LogSettings {

    /** The formats {@code log_format} accepts. */
    public enum Format {
        DEFAULT("default"),
        ISO8601("ISO8601");

        private final String wireName;

        Format(String wireName) {
            this.wireName = wireName;
        }

        public String wireName() {
            return wireName;
        }

        /** The format named {@code name}, or null. */
        public static Format named(String name) {
            return Arrays.stream(values()).filter(format -> format.wireName.equals(name)).findFirst().orElse(null);
        }
    }

    /** One set of settings. */
    public record State(boolean info, boolean warning, boolean error, int verboseLevel, Format format) {

        public State {
            if (verboseLevel < 0) {
                throw new IllegalArgumentException("verboseLevel must be >= 0, got " + verboseLevel);
            }
        }

        public State withInfo(boolean on) {
            return new State(on, warning, error, verboseLevel, format);
        }

        public State withWarning(boolean on) {
            return new State(info, on, error, verboseLevel, format);
        }

        public State withError(boolean on) {
            return new State(info, warning, on, verboseLevel, format);
        }

        public State withVerboseLevel(int level) {
            return new State(info, warning, error, level, format);
        }

        public State withFormat(Format newFormat) {
            return new State(info, warning, error, verboseLevel, newFormat);
        }

        boolean allows(Level level) {
            int value = level.intValue();
            if (value >= Level.SEVERE.intValue()) {
                return error;
            }
            if (value >= Level.WARNING.intValue()) {
                return warning;
            }
            if (value >= Level.INFO.intValue()) {
                return info;
            }
            return value >= verboseThreshold().intValue();
        }

        private Level verboseThreshold() {
            return switch (Math.min(verboseLevel, 3)) {
                case 0 -> Level.OFF;
                case 1 -> Level.FINE;
                case 2 -> Level.FINER;
                default -> Level.FINEST;
            };
        }
    }

    private static final DateTimeFormatter ISO = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
            .withZone(ZoneOffset.UTC);

    private static final LogSettings ROOT = new LogSettings(Logger.getLogger(""));

    private final Logger root;
    private final Formatter defaultFormatter = new SimpleFormatter();
    private volatile State state = new State(true, true, true, 0, Format.DEFAULT);

    private LogSettings(Logger root) {
        this.root = root;
    }

    /**
     * The settings of this process's root logger (one per process, as the root logger is), starting as Triton's
     * defaults: info, warning and error on, verbose off, default format.
     */
    public static LogSettings forRootLogger() {
        return ROOT;
    }

    public State state() {
        return state;
    }

    /** Applies {@code next} to the root logger and every handler it has now. */
    public synchronized void apply(State next) {
        state = next;
        Filter filter = record -> state.allows(record.getLevel());
        root.setLevel(next.verboseLevel() > 0 ? next.verboseThreshold() : Level.INFO);
        Formatter formatter = next.format() == Format.ISO8601 ? iso8601() : defaultFormatter;
        for (Handler handler : root.getHandlers()) {
            handler.setLevel(Level.ALL);
            handler.setFilter(filter);
            handler.setFormatter(formatter);
        }
    }

    private static Formatter iso8601() {
        return new Formatter() {
            @Override
            public String format(LogRecord record) {
                String line = ISO.format(Instant.ofEpochMilli(record.getMillis())) + " "
                        + record.getLevel().getName().charAt(0) + " " + record.getLoggerName() + "] "
                        + formatMessage(record) + System.lineSeparator();
                return record.getThrown() == null ? line : line + record.getThrown() + System.lineSeparator();
            }
        };
    }
}
