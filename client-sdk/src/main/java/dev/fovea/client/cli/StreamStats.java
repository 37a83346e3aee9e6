package dev.fovea.client.cli;

import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.Timings;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What happened to the frames of one stream: counts, latencies and, when the truth of each frame is known, how many
 * results named it. Latency is measured twice per result: the round trip the client sees (frame captured to result
 * received) and the part of it spent in the server (its queue, preprocess, inference and postprocess timings), so a
 * reader can tell the server from the client, the transport and the machine. The first {@code warmUp} results (JIT,
 * connection and allocator warm-up on both sides) count in every total but not in the latencies. Results are also
 * counted per model version (the server reports which version ran each frame; it changes when the model is updated
 * while the stream runs), so a live update shows which frames each version answered. The sender and the stream's
 * listener call it from different threads; every method is synchronized.
 */
final class StreamStats {

    /** A frame on its way: when it was captured and what it shows (null when unknown). */
    record Sent(long capturedNanos, String truth) {}

    /** The results one model version gave: how many, the first and last frame ids, and how many named the truth. */
    private static final class VersionResults {
        int results;
        long firstFrame;
        long lastFrame;
        int judged;
        int correct;
    }

    private final int warmUp;
    private final Map<Long, Sent> pending = new HashMap<>();
    private long[] latencies = new long[256];
    /** Server time (µs) of the same results as {@link #latencies}, where the server reported it. */
    private long[] serverMicros = new long[256];
    private int serverTimed;
    /** Results that answered frames this stream sent, warm-up included. */
    private int answered;
    private int sent;
    private int dropped;
    private int results;
    /** Results whose latency is in {@link #latencies}: those answering frames this stream sent, after warm-up. */
    private int timed;
    private int skipped;
    private int errors;
    private int judged;
    private int correct;
    /** Results per model version, in the order the versions first answered; empty when the server names none. */
    private final Map<String, VersionResults> versions = new LinkedHashMap<>();

    /** Stats that leave the first {@code warmUp} results out of the latencies. */
    StreamStats(int warmUp) {
        if (warmUp < 0) {
            throw new IllegalArgumentException("warmUp must be >= 0, got " + warmUp);
        }
        this.warmUp = warmUp;
    }

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
                if (frame != null && answered++ >= warmUp) {
                    if (timed == latencies.length) {
                        latencies = Arrays.copyOf(latencies, latencies.length * 2);
                    }
                    latencies[timed++] = nowNanos - frame.capturedNanos();
                    Timings server = response.getResult().getTimings();
                    if (server.getBatchSize() > 0) {
                        if (serverTimed == serverMicros.length) {
                            serverMicros = Arrays.copyOf(serverMicros, serverMicros.length * 2);
                        }
                        serverMicros[serverTimed++] = server.getQueueUs() + server.getPreprocessUs()
                                + server.getInferenceUs() + server.getPostprocessUs();
                    }
                }
                VersionResults version = response.getModelVersion().isEmpty() ? null
                        : versions.computeIfAbsent(response.getModelVersion(), v -> new VersionResults());
                if (version != null) {
                    if (version.results++ == 0) {
                        version.firstFrame = response.getFrameId();
                    }
                    version.lastFrame = response.getFrameId();
                }
                if (frame != null && frame.truth() != null && response.getResult().getClassesCount() > 0) {
                    boolean right = frame.truth().equals(response.getResult().getClasses(0).getLabel());
                    judged++;
                    correct += right ? 1 : 0;
                    if (version != null) {
                        version.judged++;
                        version.correct += right ? 1 : 0;
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

    /** Frames sent that no response answered (yet): lost when the stream ended early. */
    synchronized int unanswered() {
        return pending.size();
    }

    /** The fraction of judged results whose top label was the truth; NaN when none was judged. */
    synchronized double accuracy() {
        return judged == 0 ? Double.NaN : (double) correct / judged;
    }

    /** The round trip of results at percentile {@code p} (0 to 100, nearest rank), in milliseconds; NaN if none. */
    synchronized double latencyMillis(double p) {
        return percentile(latencies, timed, p) / 1e6;
    }

    /** The server's share of the same results at percentile {@code p}, in milliseconds; NaN if it reported none. */
    synchronized double serverMillis(double p) {
        return percentile(serverMicros, serverTimed, p) / 1e3;
    }

    private static double percentile(long[] values, int count, double p) {
        if (count == 0) {
            return Double.NaN;
        }
        long[] sorted = Arrays.copyOf(values, count);
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    /**
     * The closing lines: counts and throughput, round-trip and server percentiles, accuracy when judged, and the
     * results of each model version when the server named versions.
     */
    synchronized String summary(long elapsedNanos) {
        double seconds = elapsedNanos / 1e9;
        StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
                "frames sent %d, results %d, skipped %d, errors %d%s%s in %.2f s: %.1f FPS%n", sent, results, skipped,
                errors, dropped == 0 ? "" : ", dropped before sending (stream busy) " + dropped,
                pending.isEmpty() ? "" : ", unanswered " + pending.size(), seconds,
                seconds > 0 ? results / seconds : 0.0));
        if (timed > 0) {
            text.append(String.format(Locale.ROOT, "round trip ms (frame captured to result received, %d results "
                    + "after %d warm-up): p50 %.2f, p90 %.2f, p99 %.2f%n", timed, Math.min(answered, warmUp),
                    latencyMillis(50), latencyMillis(90), latencyMillis(99)));
        }
        if (serverTimed > 0) {
            text.append(String.format(Locale.ROOT, "in the server ms (queue + preprocess + inference + postprocess): "
                    + "p50 %.2f, p90 %.2f, p99 %.2f%n", serverMillis(50), serverMillis(90), serverMillis(99)));
        }
        if (judged > 0) {
            text.append(String.format(Locale.ROOT, "accuracy %.3f (%d of %d results name the shape drawn)%n", accuracy(),
                    correct, judged));
        }
        versions.forEach((name, version) -> text.append(String.format(Locale.ROOT,
                "model version %s: results %d (frames %d to %d)%s%n", name, version.results, version.firstFrame,
                version.lastFrame, version.judged == 0 ? "" : String.format(Locale.ROOT, ", accuracy %.3f",
                        (double) version.correct / version.judged))));
        return text.toString();
    }
}
