package dev.fovea.bench.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fovea-bench's numbers and outputs: percentiles by nearest rank, the table row, the JSON and the chart. */
class ReportTest {

    @Test
    void percentilesUseTheNearestRank() {
        Latencies latencies = new Latencies();
        for (int millis = 100; millis >= 1; millis--) {
            latencies.add(millis * 1_000_000L);
        }
        assertEquals(100, latencies.count());
        assertEquals(50.0, latencies.percentileMillis(0.5));
        assertEquals(90.0, latencies.percentileMillis(0.9));
        assertEquals(99.0, latencies.percentileMillis(0.99));
        assertTrue(Double.isNaN(new Latencies().percentileMillis(0.5)));
    }

    @Test
    void resultsPrintAsATableRowAndJson() {
        LevelResult unary = new LevelResult("unary", 4, 200, 2.0, 9.5, 12.25, 20.0, new double[] {1, 2, 5, 0.5, 3});
        assertEquals(100.0, unary.throughput());
        assertEquals("| unary | 4 | 200 | 100.0 | 9.50 | 12.25 | 20.00 | 1.00 / 2.00 / 5.00 / 0.50 (batch 3.0) |",
                unary.tableRow());
        assertTrue(unary.json().startsWith("{\"mode\":\"unary\",\"concurrency\":4,\"requests\":200,"), unary.json());
        assertTrue(unary.json().contains("\"p99_ms\":20.0000"), unary.json());
        double nan = Double.NaN;
        LevelResult floor = new LevelResult("floor", 1, 50, 1.0, 2, 3, 4, new double[] {nan, nan, nan, nan, nan});
        assertTrue(floor.tableRow().endsWith("| - |"), floor.tableRow());
        assertTrue(floor.json().contains("\"queue\":null"), floor.json());
    }

    @Test
    void chartIsAPng(@TempDir Path dir) throws Exception {
        double nan = Double.NaN;
        Path file = dir.resolve("chart.png");
        Chart.write(file, "test", List.of(
                new LevelResult("unary", 1, 100, 1, 5, 6, 7, new double[] {1, 1, 1, 1, 1}),
                new LevelResult("unary", 2, 180, 1, 8, 9, 12, new double[] {1, 1, 1, 1, 1}),
                new LevelResult("floor", 1, 120, 1, 4, 5, 6, new double[] {nan, nan, nan, nan, nan})));
        BufferedImage image = ImageIO.read(file.toFile());
        assertEquals(960, image.getWidth());
        assertEquals(600, image.getHeight());
    }
}
