package dev.fovea.client.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.awt.Rectangle;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SyntheticSceneTest {

    private static final int WIDTH = 160;
    private static final int HEIGHT = 120;

    private final SyntheticScene scene = new SyntheticScene(WIDTH, HEIGHT);

    private static int[] pixel(SyntheticScene.Picture picture, int x, int y) {
        int i = (y * WIDTH + x) * 3;
        byte[] rgb = picture.rgb();
        return new int[] {rgb[i] & 0xFF, rgb[i + 1] & 0xFF, rgb[i + 2] & 0xFF};
    }

    /** The demo models' training range: every channel at least 120, one at 255. */
    private static boolean isShape(int[] rgb) {
        return rgb[0] >= 120 && rgb[1] >= 120 && rgb[2] >= 120 && Math.max(rgb[0], Math.max(rgb[1], rgb[2])) == 255;
    }

    private static boolean isBackground(int[] rgb) {
        return rgb[0] <= 90 && rgb[1] <= 90 && rgb[2] <= 90;
    }

    /** A corner the shape cannot reach: it is at most 60% of the height, so it never holds two opposite corners. */
    private static int[] backgroundOf(SyntheticScene.Picture picture) {
        return picture.bounds().contains(0, 0) ? pixel(picture, WIDTH - 1, HEIGHT - 1) : pixel(picture, 0, 0);
    }

    @Test
    void theShapeChangesEveryThirtyFramesCyclingCircleSquareTriangleCross() {
        List<String> expected = List.of("circle", "square", "triangle", "cross", "circle");
        for (int index = 0; index < 150; index++) {
            String label = expected.get(index / 30);
            assertEquals(label, SyntheticScene.labelAt(index), "frame " + index);
            assertEquals(label, scene.render(index).label(), "frame " + index);
        }
        assertEquals(SyntheticScene.LABELS, List.of("circle", "square", "triangle", "cross"));
    }

    @Test
    void everyFrameIsADarkPlainBackgroundWithOneBrightShapeInsideTheFrame() {
        for (int index = 0; index < 600; index += 7) {
            SyntheticScene.Picture picture = scene.render(index);
            assertEquals(WIDTH * HEIGHT * 3, picture.rgb().length);
            Rectangle bounds = picture.bounds();
            assertTrue(new Rectangle(0, 0, WIDTH, HEIGHT).contains(bounds), "frame " + index + ": " + bounds);
            assertTrue(bounds.width == bounds.height && bounds.height >= 0.4 * HEIGHT && bounds.height <= 0.6 * HEIGHT,
                    "frame " + index + ": size " + bounds.height);
            int shape = 0;
            int[] background = backgroundOf(picture);
            for (int y = 0; y < HEIGHT; y++) {
                for (int x = 0; x < WIDTH; x++) {
                    int[] rgb = pixel(picture, x, y);
                    if (bounds.contains(x, y) && isShape(rgb)) {
                        shape++;
                    } else if (!Arrays.equals(background, rgb)) {
                        fail("frame " + index + " (" + x + ", " + y + ") is neither shape nor the plain background: "
                                + Arrays.toString(rgb));
                    }
                }
            }
            assertTrue(isBackground(background), "frame " + index + ": a dark background " + Arrays.toString(background));
            assertTrue(shape > 0.2 * bounds.width * bounds.height, "frame " + index + ": " + shape + " shape pixels");
        }
    }

    @Test
    void eachShapeCoversItsOwnPartsOfItsSquare() {
        for (int segment = 0; segment < 4; segment++) {
            int index = segment * 30 + 11;
            SyntheticScene.Picture picture = scene.render(index);
            Rectangle b = picture.bounds();
            int cx = b.x + b.width / 2;
            int cy = b.y + b.height / 2;
            int near = 2;
            boolean corner = isShape(pixel(picture, b.x + near, b.y + near));
            boolean bottomCorner = isShape(pixel(picture, b.x + b.width - 1 - near, b.y + b.height - 1 - near));
            assertTrue(isShape(pixel(picture, cx, cy)), picture.label() + ": the centre");
            switch (picture.label()) {
                case "circle" -> {
                    assertTrue(!corner && !bottomCorner, "a circle leaves the corners of its box");
                    assertTrue(isShape(pixel(picture, b.x + near, cy)) && isShape(pixel(picture, cx, b.y + near)));
                }
                case "square" -> assertTrue(corner && bottomCorner, "a square fills its box");
                case "triangle" -> {
                    assertTrue(!corner && !bottomCorner, "a triangle pointing up leaves the top-left corner and"
                            + " everything below its base");
                    assertTrue(isShape(pixel(picture, cx, b.y + b.height / 8)), "its apex is at the top middle");
                    assertTrue(!isShape(pixel(picture, b.x + b.width / 8, b.y + b.height / 3)),
                            "its sides slope in towards the apex");
                }
                case "cross" -> {
                    assertTrue(!corner && !bottomCorner, "a cross leaves the corners of its box");
                    assertTrue(isShape(pixel(picture, b.x + near, cy)) && isShape(pixel(picture, cx, b.y + near)),
                            "its arms reach the edges of its box");
                    assertTrue(!isShape(pixel(picture, cx - b.width / 4, cy - b.height / 4)),
                            "its bars are a third of its size wide");
                }
                default -> throw new AssertionError(picture.label());
            }
        }
    }

    @Test
    void theShapeMovesAndBouncesAndTheBackgroundDriftsSlowly() {
        Rectangle first = scene.render(0).bounds();
        assertNotEquals(first.getLocation(), scene.render(3).bounds().getLocation(), "the shape moves");
        boolean leftMoving = false;
        boolean rightMoving = false;
        for (int index = 1; index < 200; index++) {
            int dx = scene.render(index).bounds().x - scene.render(index - 1).bounds().x;
            leftMoving |= dx < 0;
            rightMoving |= dx > 0;
        }
        assertTrue(leftMoving && rightMoving, "it bounces back");
        for (int index = 1; index < 600; index++) {
            int[] before = backgroundOf(scene.render(index - 1));
            int[] after = backgroundOf(scene.render(index));
            for (int c = 0; c < 3; c++) {
                assertTrue(Math.abs(before[c] - after[c]) <= 1, "the background drifts by at most a level per frame");
            }
        }
        assertFalse(Arrays.equals(backgroundOf(scene.render(0)), backgroundOf(scene.render(300))),
                "but it does change");
    }

    @Test
    void aFrameIsAFunctionOfItsIndex() {
        byte[] early = scene.render(42).rgb();
        scene.render(77);
        assertArrayEquals(early, scene.render(42).rgb());
    }
}
