package dev.fovea.server.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

class TraceConfigTest {

    @Test
    void noFlagsIsTritonsDefaultsWithTracingOff() {
        TraceConfig config = TraceConfig.parse(List.of());
        assertEquals(TraceConfig.DEFAULT, config);
        assertEquals(TraceSettings.Level.OFF, config.settings().level());
        assertEquals(1000, config.settings().rate());
        assertEquals(-1, config.settings().count());
    }

    @Test
    void tritonsSyntaxSetsGlobalAndExporterSettings() {
        TraceConfig config = TraceConfig.parse(List.of("mode=opentelemetry", "level=TIMESTAMPS", "rate=10",
                "count=100", "opentelemetry,url=http://collector:4318/v1/traces",
                "opentelemetry,resource=service.name=camera-fovea", "opentelemetry,resource=deployment=edge",
                "opentelemetry,bsp_schedule_delay=200", "opentelemetry,bsp_max_queue_size=64",
                "opentelemetry,bsp_max_export_batch_size=32"));
        assertEquals(new TraceSettings(TraceSettings.Level.TIMESTAMPS, 10, 100), config.settings());
        assertEquals(URI.create("http://collector:4318/v1/traces"), config.url());
        assertEquals("camera-fovea", config.resource().get("service.name"));
        assertEquals("edge", config.resource().get("deployment"));
        assertEquals(200, config.scheduleDelayMillis());
        assertEquals(64, config.maxQueueSize());
        assertEquals(32, config.maxExportBatchSize());
    }

    @Test
    void badValuesAreRefusedNamingTheFlag() {
        for (String bad : List.of("level=TENSORS", "level=LOUD", "rate=-1", "rate=x", "count=-2", "mode=triton",
                "triton,file=/tmp/trace.json", "opentelemetry,url=ftp://host/x", "opentelemetry,url=not a url",
                "opentelemetry,bsp_max_export_batch_size=4096", "opentelemetry,color=blue", "verbose=1", "level",
                "rate=99999999999999999999")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> TraceConfig.parse(List.of(bad)), bad);
            assertTrue(e.getMessage().startsWith("--trace-config"), e.getMessage());
        }
    }
}
