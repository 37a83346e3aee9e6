package dev.fovea.bench.load;

import dev.fovea.v1.Timings;

/** Sums of the server's per-result stage timings, for the mean breakdown of a run. */
final class StageTotals {

    private long results;
    private long queue;
    private long preprocess;
    private long inference;
    private long postprocess;
    private long batchImages;

    synchronized void add(Timings timings) {
        results++;
        queue += timings.getQueueUs();
        preprocess += timings.getPreprocessUs();
        inference += timings.getInferenceUs();
        postprocess += timings.getPostprocessUs();
        batchImages += timings.getBatchSize();
    }

    /** Mean queue, preprocess, inference and postprocess time in milliseconds, then the mean batch size. */
    synchronized double[] means() {
        if (results == 0) {
            return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        }
        return new double[] {queue / 1e3 / results, preprocess / 1e3 / results, inference / 1e3 / results,
            postprocess / 1e3 / results, (double) batchImages / results};
    }
}
