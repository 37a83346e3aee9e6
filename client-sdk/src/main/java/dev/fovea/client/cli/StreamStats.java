package dev.fovea.client.cli;

import dev.fovea.v1.StreamPredictResponse;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What happened to the frames of one stream: counts, latencies and, when the truth of each frame is known, how many
 * results named it. The sender and the stream's listener call it from different threads; every method is
 * synchronized.
 */
final class StreamStats {

    /** A frame on its way: when it was captured and what it shows (null when unknown). */
    record Sent(long capturedNanos, String truth) {}

    private final Map<Long, Sent> pending = new HashMap<>();
    private long[] latencies = new long[256];
    private int sent;
    private int dropped;
    private int results;
    /** Results whose latency is in {@link #latencies}: those answering frames this stream sent. */
    private int timed;
    private int skipped;
    private int errors;
    private int judged;
    private int correct;

    /** Call just before handing the frame to the stream, so that its response cannot come first. */
    synchronized void sending(long frameId, long capturedNanos, String truth) {
        pending.put(frameId, new Sent(capturedNanos, truth));
        sent++;
    }

    /** The frame was not sent after all: the stream was busy (live mode) or ended. */
    synchronized void notSent(long frameId, boolean busy) {
        pending.remove(frameId);
        sent--;
        if (busy) {
            dropped++;
        }
    }

    /**
     * Counts one response received at {@code nowNanos}.
     *
     * @return the frame as it was sent, or null for a response to a frame this stream did not send
     */
    synchronized Sent received(StreamPredictResponse response, long nowNanos) {
        Sent frame = pending.remove(response.getFrameId());
        switch (response.getOutcomeCase()) {
            case RESULT -> {
                results++;
                if (frame != null) {
                    if (timed == latencies.length) {
                        latencies = Arrays.copyOf(latencies, latencies.length * 2);
                    }
                    latencies[timed++] = nowNanos - frame.capturedNanos();
                }
                if (frame != null && frame.truth() != null && response.getResult().getClassesCount() > 0) {
                    judged++;
                    if (frame.truth().equals(response.getResult().getClasses(0).getLabel())) {
                        correct++;
                    }
                }
            }
            case SKIPPED -> skipped++;
            case ERROR, OUTCOME_NOT_SET -> errors++;
        }
        return frame;
    }

    synchronized int sent() {
        return sent;
    }

    synchronized int results() {
        return results;
    }

    synchronized int skipped() {
        return skipped;
    }

    synchronized int dropped() {
        return dropped;
    }

    /** The fraction of judged results whose top label was the truth; NaN when none was judged. */
    synchronized double accuracy() {
        return judged == 0 ? Double.NaN : (double) correct / judged;
    }

    /** The latency of results at percentile {@code p} (0 to 100, nearest rank), in milliseconds; NaN if none. */
    synchronized double latencyMillis(double p) {
        if (timed == 0) {
            return Double.NaN;
        }
        long[] sorted = Arrays.copyOf(latencies, timed);
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1e6;
    }

    /** The closing lines: counts and throughput, latency percentiles, accuracy when judged. */
    synchronized String summary(long elapsedNanos) {
        double seconds = elapsedNanos / 1e9;
        StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
                "frames sent %d, results %d, skipped %d, errors %d%s in %.2f s: %.1f FPS%n", sent, results, skipped,
                errors, dropped == 0 ? "" : ", dropped before sending (stream busy) " + dropped, seconds,
                seconds > 0 ? results / seconds : 0.0));
        if (timed > 0) {
            text.append(String.format(Locale.ROOT, "latency ms: p50 %.2f, p90 %.2f, p99 %.2f%n", latencyMillis(50),
                    latencyMillis(90), latencyMillis(99)));
        }
        if (judged > 0) {
            text.append(String.format(Locale.ROOT, "accuracy %.3f (%d of %d results name the shape drawn)%n", accuracy(),
                    correct, judged));
        }
        return text.toString();
    }
}
