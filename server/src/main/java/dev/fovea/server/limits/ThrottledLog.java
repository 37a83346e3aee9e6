package dev.fovea.server.limits;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A log for events that clients can cause as often as they like (malformed messages, rejected inputs, model errors
 * on their data): at most one line per interval, with the number of events it left out since the last line. What
 * a client can make the server write is then bounded by time, not by how fast it sends.
 *
 * <p>Thread-safe. The message supplier runs only when a line is written, so a dropped event costs one counter
 * increment.
 */
public final class ThrottledLog {

    private final Logger logger;
    private final long intervalNanos;
    private final AtomicLong nextLineNanos;
    private final AtomicLong suppressed = new AtomicLong();

    public ThrottledLog(Logger logger, Duration interval) {
        this.logger = logger;
        this.intervalNanos = interval.toNanos();
        this.nextLineNanos = new AtomicLong(System.nanoTime());
    }

    /**
     * Logs {@code message} (newlines replaced by spaces unless {@code multiline}) if no line was written in the
     * last interval; otherwise counts it as suppressed.
     */
    public void log(Level level, Supplier<String> message) {
        log(level, message, false);
    }

    /**
     * As {@link #log(Level, Supplier)}; {@code multiline} keeps the message's newlines (a model's traceback, which
     * is the model author's text, logged once per interval so an operator can read it).
     */
    public void log(Level level, Supplier<String> message, boolean multiline) {
        if (!logger.isLoggable(level)) {
            return;
        }
        long now = System.nanoTime();
        long next = nextLineNanos.get();
        if (now - next < 0 || !nextLineNanos.compareAndSet(next, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return;
        }
        String text = message.get();
        if (!multiline) {
            text = text.replace('\n', ' ').replace('\r', ' ');
        }
        long left = suppressed.getAndSet(0);
        logger.log(level, left == 0 ? text : text + " (" + left + " similar events not logged)");
    }
}
