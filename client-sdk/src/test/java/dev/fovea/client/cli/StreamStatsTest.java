package dev.fovea.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.v1.Classification;
import dev.fovea.v1.FrameSkipped;
import dev.fovea.v1.Result;
import dev.fovea.v1.StreamPredictResponse;
import dev.fovea.v1.Timings;
import org.junit.jupiter.api.Test;

class StreamStatsTest {

    private static StreamPredictResponse result(long frameId, String label) {
        return StreamPredictResponse.newBuilder().setFrameId(frameId)
                .setResult(Result.newBuilder().addClasses(Classification.newBuilder().setLabel(label))).build();
    }

    @Test
    void latencyPercentilesUseTheNearestRank() {
        StreamStats stats = new StreamStats(0);
        for (long id = 1; id <= 100; id++) {
            stats.sending(id, 0, null);
            stats.received(result(id, "x"), id * 1_000_000); // frame id ms
        }
        assertEquals(50.0, stats.latencyMillis(50));
        assertEquals(90.0, stats.latencyMillis(90));
        assertEquals(99.0, stats.latencyMillis(99));
        assertEquals(100.0, stats.latencyMillis(100));
        assertTrue(Double.isNaN(stats.accuracy()), "nothing to judge without the truth");
    }

    @Test
    void accuracyJudgesResultsAgainstTheTruthOfTheirOwnFrame() {
        StreamStats stats = new StreamStats(0);
        stats.sending(1, 0, "circle");
        stats.sending(2, 0, "square");
        stats.sending(3, 0, "cross");
        stats.received(result(2, "square"), 5);
        stats.received(result(1, "square"), 5);
        stats.received(StreamPredictResponse.newBuilder().setFrameId(3)
                .setSkipped(FrameSkipped.newBuilder().setSupersededBy(4)).build(), 5);

        assertEquals(0.5, stats.accuracy());
        assertEquals(2, stats.results());
        assertEquals(1, stats.skipped());
        assertNull(stats.received(result(9, "circle"), 5), "a frame this stream never sent");
    }

    @Test
    void warmUpResultsCountButStayOutOfTheLatenciesAndServerTimeIsReportedBeside() {
        StreamStats stats = new StreamStats(2);
        for (long id = 1; id <= 12; id++) {
            stats.sending(id, 0, null);
            // The two warm-up results are slow (1 s); the rest take id ms, of which the server reports id / 2 ms.
            long nanos = id <= 2 ? 1_000_000_000 : id * 1_000_000;
            stats.received(StreamPredictResponse.newBuilder().setFrameId(id).setResult(Result.newBuilder()
                    .setTimings(Timings.newBuilder().setBatchSize(1).setQueueUs(id * 100).setInferenceUs(id * 400)))
                    .build(), nanos);
        }
        assertEquals(12, stats.results());
        assertEquals(12.0, stats.latencyMillis(100), "the 1 s warm-up results are left out");
        assertEquals(3.0, stats.latencyMillis(1));
        assertEquals(6.0, stats.serverMillis(100));
        String summary = stats.summary(1_000_000_000);
        assertTrue(summary.contains("round trip ms (frame captured to result received, 10 results after 2 warm-up)"),
                summary);
        assertTrue(summary.contains("in the server ms (queue + preprocess + inference + postprocess): p50 3.50"),
                summary);
    }

    @Test
    void resultsAreCountedPerModelVersionInTheOrderVersionsFirstAnswered() {
        StreamStats stats = new StreamStats(0);
        String[] versions = {"7", "7", "8", "7", "8"};
        for (int i = 0; i < versions.length; i++) {
            long id = i + 1;
            stats.sending(id, 0, "circle");
            stats.received(result(id, id == 2 ? "square" : "circle").toBuilder().setModelVersion(versions[i]).build(),
                    5);
        }
        String summary = stats.summary(1_000_000_000);
        assertTrue(summary.endsWith("model version 7: results 3 (frames 1 to 4), accuracy 0.667\n"
                + "model version 8: results 2 (frames 3 to 5), accuracy 1.000\n"), summary);
    }

    @Test
    void framesSentButNeverAnsweredAreReportedUnanswered() {
        StreamStats stats = new StreamStats(0);
        for (long id = 1; id <= 3; id++) {
            stats.sending(id, 0, null);
        }
        stats.received(result(2, "x"), 5);
        assertEquals(2, stats.unanswered());
        assertTrue(stats.summary(1_000_000_000).startsWith("frames sent 3, results 1, skipped 0, errors 0, "
                + "unanswered 2 in "), stats.summary(1_000_000_000));
        stats.received(result(1, "x"), 5);
        stats.received(result(3, "x"), 5);
        assertFalse(stats.summary(1_000_000_000).contains("unanswered"), "every frame answered");
    }

    @Test
    void framesNotSentAreNotCounted() {
        StreamStats stats = new StreamStats(0);
        stats.sending(1, 0, null);
        stats.sending(2, 0, null);
        stats.notSent(2, true);
        assertEquals(1, stats.sent());
        assertEquals(1, stats.dropped());
        assertTrue(stats.summary(1_000_000_000).contains("dropped before sending (stream busy) 1"));
    }
}
