package dev.fovea.server.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestImages;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.junit.jupiter.api.Test;

/** Image sizes read from headers, as the decoder would read them, and every way a header can be unreadable. */
class ImageHeaderTest {

    private static ImageHeader.Size read(byte[] bytes) throws ImageHeader.UnreadableException {
        return ImageHeader.read(MemorySegment.ofArray(bytes));
    }

    private static String unreadable(byte[] bytes) {
        return assertThrows(ImageHeader.UnreadableException.class, () -> read(bytes)).getMessage();
    }

    /** A JPEG built segment by segment: SOI, then each {marker, payload...}. */
    private static byte[] jpeg(int[]... segments) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xFF);
        out.write(0xD8);
        for (int[] segment : segments) {
            out.write(0xFF);
            out.write(segment[0]);
            int length = segment.length + 1; // the two length bytes and the payload
            out.write(length >> 8);
            out.write(length);
            for (int i = 1; i < segment.length; i++) {
                out.write(segment[i]);
            }
        }
        return out.toByteArray();
    }

    /** A frame header's payload: precision 8, height, width, one component. */
    private static int[] frame(int marker, int width, int height) {
        return new int[] {marker, 8, height >> 8, height & 0xFF, width >> 8, width & 0xFF, 1, 1, 0x11, 0};
    }

    @Test
    void jpegAndPngFilesGiveTheirDimensions() throws Exception {
        assertEquals(new ImageHeader.Size(40, 30), read(TestImages.file(TestImages.picture(40, 30, 1), "jpg")));
        assertEquals(new ImageHeader.Size(40, 30), read(TestImages.file(TestImages.picture(40, 30, 1), "png")));
        assertEquals(new ImageHeader.Size(16384, 4096), read(TestImages.jpegClaiming(16384, 4096)));
    }

    @Test
    void progressiveJpegsGiveTheirDimensions() throws Exception {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpg").next();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream stream = new MemoryCacheImageOutputStream(out)) {
            writer.setOutput(stream);
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
            writer.write(null, new IIOImage(TestImages.picture(33, 17, 2), null, null), param);
        } finally {
            writer.dispose();
        }
        assertEquals(new ImageHeader.Size(33, 17), read(out.toByteArray()));
    }

    @Test
    void segmentsBeforeTheFrameHeaderAreSkippedByTheirLengths() throws Exception {
        // An APP1 whose payload looks like a frame header (an Exif thumbnail would): only the real one counts.
        int[] app1 = frame(0xC0, 9, 9);
        app1[0] = 0xE1;
        assertEquals(new ImageHeader.Size(640, 480), read(jpeg(new int[] {0xE0, 'J', 'F', 'I', 'F', 0}, app1,
                new int[] {0xC4, 0, 0, 0}, new int[] {0xFE, 'h', 'i'}, frame(0xC2, 640, 480))));
    }

    @Test
    void truncatedOrFramelessJpegsAreUnreadable() {
        byte[] whole = jpeg(new int[] {0xE0, 1, 2, 3}, frame(0xC0, 640, 480));
        for (int cut : new int[] {3, 4, 6, 8, whole.length - 8, whole.length - 3}) {
            assertTrue(unreadable(Arrays.copyOf(whole, cut)).contains("ends before its frame header"),
                    "cut at " + cut);
        }
        byte[] scanFirst = jpeg(new int[] {0xDA, 0, 0}, frame(0xC0, 640, 480));
        assertTrue(unreadable(scanFirst).contains("no frame header (SOFn) before marker FFDA"));
        assertTrue(unreadable(jpeg(frame(0xC0, 640, 0))).contains("640x0"));
        assertTrue(unreadable(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE0, 0, 1})
                .contains("segment length 1"));
        byte[] noMarker = jpeg(new int[] {0xE0, 1});
        noMarker = Arrays.copyOf(noMarker, noMarker.length + 2);
        assertTrue(unreadable(noMarker).contains("no marker at byte"));
    }

    @Test
    void theJpegWalkStopsAfterABoundedNumberOfSegments() {
        int[][] comments = new int[ImageHeader.MAX_JPEG_SEGMENTS + 1][];
        Arrays.fill(comments, new int[] {0xFE});
        int[][] segments = Arrays.copyOf(comments, comments.length + 1);
        segments[comments.length] = frame(0xC0, 640, 480);
        assertTrue(unreadable(jpeg(segments)).contains("no frame header (SOFn) in the first 1024 segments"));
    }

    @Test
    void pngsWithoutAnIhdrFirstAreUnreadable() {
        byte[] png = TestImages.file(TestImages.picture(40, 30, 1), "png");
        assertTrue(unreadable(Arrays.copyOf(png, 20)).contains("PNG: the file ends before its IHDR chunk"));
        byte[] renamed = png.clone();
        renamed[12] = 'X';
        assertTrue(unreadable(renamed).contains("not a 13-byte IHDR"));
        byte[] empty = png.clone();
        Arrays.fill(empty, 16, 20, (byte) 0);
        assertTrue(unreadable(empty).contains("IHDR gives 0x30"));
        byte[] huge = png.clone();
        Arrays.fill(huge, 20, 24, (byte) 0xFF);
        assertTrue(unreadable(huge).contains("IHDR gives 40x4294967295"));
    }

    @Test
    void damagedFilesGiveASizeOrUnreadableAndNothingElse() {
        Random random = new Random(42);
        List<byte[]> files = List.of(TestImages.file(TestImages.picture(40, 30, 1), "jpg"),
                TestImages.file(TestImages.picture(40, 30, 1), "png"));
        for (int i = 0; i < 4000; i++) {
            byte[] file = files.get(i % 2);
            byte[] damaged = Arrays.copyOf(file, 3 + random.nextInt(file.length));
            for (int flips = random.nextInt(4); flips > 0; flips--) {
                damaged[random.nextInt(damaged.length)] = (byte) random.nextInt(256);
            }
            try {
                ImageHeader.Size size = read(damaged);
                assertTrue(size.width() > 0 && size.height() > 0, size.toString());
            } catch (ImageHeader.UnreadableException expected) {
                assertFalse(expected.getMessage().contains("\n"));
            }
        }
    }

    @Test
    void otherFormatsAreUnreadable() {
        assertEquals("not a JPEG or PNG image", unreadable("GIF89a, not what we take".getBytes()));
        assertEquals("not a JPEG or PNG image", unreadable(new byte[] {(byte) 0xFF, (byte) 0xD8}));
        assertEquals("not a JPEG or PNG image", unreadable(new byte[0]));
    }
}
