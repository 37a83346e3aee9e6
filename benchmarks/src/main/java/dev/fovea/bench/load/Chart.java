package dev.fovea.bench.load;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Draws latency against throughput, one line per mode and percentile, as a PNG. */
final class Chart {

    private static final int WIDTH = 960;
    private static final int HEIGHT = 600;
    private static final int LEFT = 80;
    private static final int RIGHT = 220;
    private static final int TOP = 50;
    private static final int BOTTOM = 70;

    private Chart() {}

    static void write(Path file, String title, List<LevelResult> levels) throws IOException {
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        double maxX = levels.stream().mapToDouble(LevelResult::throughput).max().orElse(1) * 1.1;
        double maxY = levels.stream().mapToDouble(LevelResult::p99).filter(v -> !Double.isNaN(v)).max().orElse(1) * 1.1;
        int plotWidth = WIDTH - LEFT - RIGHT;
        int plotHeight = HEIGHT - TOP - BOTTOM;

        g.setColor(new Color(230, 230, 230));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 5; i++) {
            int x = LEFT + plotWidth * i / 5;
            int y = TOP + plotHeight - plotHeight * i / 5;
            g.setColor(new Color(230, 230, 230));
            g.drawLine(x, TOP, x, TOP + plotHeight);
            g.drawLine(LEFT, y, LEFT + plotWidth, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.0f", maxX * i / 5), x - 10, TOP + plotHeight + 18);
            g.drawString(String.format(Locale.ROOT, "%.1f", maxY * i / 5), LEFT - 45, y + 4);
        }
        g.setColor(Color.BLACK);
        g.drawRect(LEFT, TOP, plotWidth, plotHeight);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, LEFT, TOP - 20);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString("throughput (requests/s)", LEFT + plotWidth / 2 - 70, HEIGHT - 25);
        g.rotate(-Math.PI / 2);
        g.drawString("latency (ms)", -(TOP + plotHeight / 2 + 40), 25);
        g.rotate(Math.PI / 2);

        int legend = TOP + 10;
        Color[] colors = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44)};
        int colorIndex = 0;
        for (String mode : List.of("unary", "stream", "floor")) {
            List<LevelResult> series = levels.stream().filter(l -> l.mode().equals(mode)).toList();
            if (series.isEmpty()) {
                continue;
            }
            Color color = colors[colorIndex++ % colors.length];
            for (boolean p99 : new boolean[] {false, true}) {
                g.setColor(color);
                g.setStroke(p99 ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f,
                        new float[] {6f, 4f}, 0f) : new BasicStroke(2.5f));
                int previousX = -1;
                int previousY = -1;
                for (LevelResult level : series) {
                    int x = LEFT + (int) (plotWidth * level.throughput() / maxX);
                    int y = TOP + plotHeight - (int) (plotHeight * (p99 ? level.p99() : level.p50()) / maxY);
                    g.fillOval(x - 4, y - 4, 8, 8);
                    if (previousX >= 0) {
                        g.drawLine(previousX, previousY, x, y);
                    }
                    g.drawString(String.valueOf(level.concurrency()), x + 6, y - 6);
                    previousX = x;
                    previousY = y;
                }
                g.drawLine(LEFT + plotWidth + 20, legend, LEFT + plotWidth + 50, legend);
                g.setColor(Color.BLACK);
                g.drawString(mode + (p99 ? " p99" : " p50"), LEFT + plotWidth + 58, legend + 5);
                legend += 22;
            }
        }
        g.setColor(Color.DARK_GRAY);
        g.drawString("labels: concurrency", LEFT + plotWidth + 20, legend + 10);
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }
}
