package dev.fovea.bench.load;

import java.util.Locale;

/**
 * One measured level: a mode ("unary", "stream" or "floor") at one concurrency. Latencies in milliseconds; the
 * server's mean stage times too (NaN for the floor, which has no server).
 */
record LevelResult(String mode, int concurrency, int requests, double seconds, double p50, double p90, double p99,
        double[] stages) {

    double throughput() {
        return requests / seconds;
    }

    String tableRow() {
        return String.format(Locale.ROOT, "| %s | %d | %d | %.1f | %.2f | %.2f | %.2f | %s |", mode, concurrency,
                requests, throughput(), p50, p90, p99, Double.isNaN(stages[0]) ? "-" : String.format(Locale.ROOT,
                        "%.2f / %.2f / %.2f / %.2f (batch %.1f)", stages[0], stages[1], stages[2], stages[3],
                        stages[4]));
    }

    String json() {
        return String.format(Locale.ROOT, "{\"mode\":\"%s\",\"concurrency\":%d,\"requests\":%d,\"seconds\":%.3f,"
                + "\"throughput_per_s\":%.3f,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"server_ms\":"
                + "{\"queue\":%s,\"preprocess\":%s,\"inference\":%s,\"postprocess\":%s,\"mean_batch\":%s}}", mode,
                concurrency, requests, seconds, throughput(), p50, p90, p99, number(stages[0]), number(stages[1]),
                number(stages[2]), number(stages[3]), number(stages[4]));
    }

    private static String number(double value) {
        return Double.isNaN(value) ? "null" : String.format(Locale.ROOT, "%.4f", value);
    }
}
