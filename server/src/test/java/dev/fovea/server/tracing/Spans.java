package dev.fovea.server.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.util.List;
import java.util.Set;

/** Finding and checking a request's spans among the exported ones. */
final class Spans {

    static final AttributeKey<Long> BATCH_ID = AttributeKey.longKey("batch_id");
    static final AttributeKey<Long> BATCH_SIZE = AttributeKey.longKey("batch_size");
    static final List<String> STAGES = List.of("queue", "preprocess", "compute", "postprocess", "send");

    private Spans() {}

    static List<SpanData> requestSpans(List<SpanData> spans) {
        return spans.stream().filter(span -> span.getKind() == SpanKind.SERVER).toList();
    }

    static List<SpanData> children(List<SpanData> spans, SpanData parent) {
        return spans.stream().filter(span -> span.getParentSpanId().equals(parent.getSpanId())).toList();
    }

    static SpanData child(List<SpanData> spans, SpanData parent, String name) {
        return children(spans, parent).stream().filter(span -> span.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " span under " + parent));
    }

    /** Stage spans in order inside the request span: each ends after it starts and before the next one starts. */
    static void assertStagesInOrder(List<SpanData> spans, SpanData request, long batchSize) {
        assertEquals(Set.copyOf(STAGES), Set.copyOf(children(spans, request).stream().map(SpanData::getName)
                .toList()));
        long previousEnd = request.getStartEpochNanos();
        for (String name : STAGES) {
            SpanData stage = child(spans, request, name);
            assertEquals(request.getTraceId(), stage.getTraceId());
            assertTrue(stage.getStartEpochNanos() >= previousEnd, name + " starts after the stage before it");
            assertTrue(stage.getEndEpochNanos() >= stage.getStartEpochNanos(), name + " ends after it starts");
            assertTrue(stage.getEndEpochNanos() <= request.getEndEpochNanos(), name + " ends inside the request");
            previousEnd = stage.getEndEpochNanos();
            if (!name.equals("send")) {
                assertEquals(batchSize, stage.getAttributes().get(BATCH_SIZE), name);
                assertTrue(stage.getAttributes().get(BATCH_ID) > 0, name);
            }
        }
    }
}
