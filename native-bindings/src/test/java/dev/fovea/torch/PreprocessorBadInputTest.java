package dev.fovea.torch;

import static dev.fovea.torch.internal.bindings.fovea_torch_h.C_POINTER;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.FOVEA_DEVICE_CPU;
import static dev.fovea.torch.internal.bindings.fovea_torch_h.fovea_preprocess;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.torch.internal.bindings.fovea_image;
import dev.fovea.torch.internal.bindings.fovea_preprocess_spec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every bad picture or spec is refused as INVALID_ARGUMENT with a message that names the image and the field, before
 * any memory is claimed for it, and the next good call still works.
 */
class PreprocessorBadInputTest {

    private static final Preprocessing IMAGENET = Preprocessing.imagenet(256, 224);
    /** JPEG and PNG headers store sizes big-endian. */
    private static final ValueLayout.OfInt BIG_ENDIAN_INT = JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private static final Consumer<MemorySegment> UNCHANGED = struct -> {};

    private static Arena arena;
    private static ImageInput goodPng;
    private static MemorySegment jpeg;
    private static MemorySegment png;

    @BeforeAll
    static void loadPictures() {
        arena = Arena.ofShared();
        jpeg = Fixtures.loadBytes("coffee.jpg", arena);
        png = Fixtures.loadBytes("cat.png", arena);
        goodPng = new ImageInput.Encoded(png);
    }

    @AfterAll
    static void freePictures() {
        arena.close();
    }

    @AfterEach
    void aGoodCallStillWorks() {
        try (Tensor batch = Preprocessor.toTensor(List.of(goodPng), IMAGENET, Device.CPU)) {
            assertEquals(3 * 224 * 224, batch.elementCount());
        }
    }

    @Test
    void filesThatAreNeitherJpegNorPngAreRefusedByIndex() {
        ImageInput garbage = new ImageInput.Encoded(arena.allocate(64).fill((byte) 7));
        assertInvalid("image 1: not a JPEG or PNG image", List.of(goodPng, garbage));
        assertInvalid("image 0: not a JPEG or PNG image", List.of(new ImageInput.Encoded(arena.allocate(0))));
    }

    @Test
    void damagedFilesCarryTheDecodersMessage() {
        assertInvalid("image 0: JPEG: Premature end of JPEG file",
                List.of(new ImageInput.Encoded(jpeg.asSlice(0, jpeg.byteSize() / 2))));
        assertInvalid("image 0: JPEG: ", List.of(new ImageInput.Encoded(jpeg.asSlice(0, 100))));
        assertInvalid("image 0: PNG: ", List.of(new ImageInput.Encoded(png.asSlice(0, png.byteSize() / 2))));
        MemorySegment badCrc = copy(png);
        badCrc.set(JAVA_BYTE, 29, (byte) ~badCrc.get(JAVA_BYTE, 29));
        NativeException e = assertInvalid("image 0: PNG: ", List.of(new ImageInput.Encoded(badCrc)));
        assertTrue(e.getMessage().contains("CRC"), e.getMessage());
    }

    @Test
    void decodedSizesOverTheLimitAreRefusedBeforeDecoding() {
        // The frame header says 20000 x 20000: nothing of that size may be allocated.
        MemorySegment hugeJpeg = copy(jpeg);
        long frame = indexOf(hugeJpeg, (byte) 0xFF, (byte) 0xC0);
        hugeJpeg.set(BIG_ENDIAN_INT, frame + 5, 20000 << 16 | 20000);
        assertInvalid("image 0: JPEG of 20000x20000 is over the size limit (at most 16384 pixels per side and 64 "
                + "Mpx in all)", List.of(new ImageInput.Encoded(hugeJpeg)));

        MemorySegment hugePng = copy(png);
        hugePng.set(BIG_ENDIAN_INT, 16, 9000);
        hugePng.set(BIG_ENDIAN_INT, 20, 9000);
        CRC32 crc = new CRC32();
        crc.update(hugePng.asSlice(12, 17).toArray(JAVA_BYTE));
        hugePng.set(BIG_ENDIAN_INT, 29, (int) crc.getValue());
        assertInvalid("image 0: PNG of 9000x9000 is over the size limit", List.of(new ImageInput.Encoded(hugePng)));
    }

    @Test
    void rawPixelsNameTheFieldThatIsWrong() {
        MemorySegment data = arena.allocate(1200);
        assertInvalid("image 0: width 0", List.of(new ImageInput.Pixels(data, 0, 4, 0, PixelFormat.RGB)));
        assertInvalid("image 0: height 0", List.of(new ImageInput.Pixels(data, 4, 0, 0, PixelFormat.RGB)));
        assertInvalid("image 2: row_stride 10 is less than width * channels (12)", List.of(goodPng, goodPng,
                new ImageInput.Pixels(data, 4, 4, 10, PixelFormat.RGB)));
        assertInvalid("image 0: data holds 100 bytes, needs 1200 (height 10 x row_stride 120)",
                List.of(new ImageInput.Pixels(data.asSlice(0, 100), 40, 10, 0, PixelFormat.RGB)));
        assertInvalid("image 0: data holds 1200 bytes, needs 1272 ((height 10 - 1) x row_stride 128 + width * "
                + "channels 120)", List.of(new ImageInput.Pixels(data, 40, 10, 128, PixelFormat.RGB)));
        assertInvalid("image 0: 20000x1 is over the size limit (at most 16384 pixels per side and 64 Mpx in all)",
                List.of(new ImageInput.Pixels(data, 20_000, 1, 0, PixelFormat.GRAY)));
        assertInvalid("image 0: 16384x16384 is over the size limit",
                List.of(new ImageInput.Pixels(data, 16_384, 16_384, 0, PixelFormat.GRAY)));
    }

    @Test
    void aResizeThatWouldBeTooLargeIsRefused() {
        MemorySegment strip = arena.allocate(16_384);
        Preprocessing huge = new Preprocessing(16_384, 224, 224, new float[] {0}, new float[] {1}, PixelFormat.GRAY);
        assertInvalid("image 0: resized to 268435456x16384 by resize_shorter_side is over the size limit",
                List.of(new ImageInput.Pixels(strip, 16_384, 1, 0, PixelFormat.GRAY)), huge);
    }

    @Test
    void cropsOverTheLimitAreRefused() {
        Preprocessing wide = new Preprocessing(0, 20_000, 1, new float[] {0}, new float[] {1}, PixelFormat.GRAY);
        assertInvalid("spec.crop_width 20000 is not between 1 and 16384", List.of(goodPng), wide);
    }

    @Test
    void theCApiChecksEveryFieldOfTheSpecAndTheImage() {
        // What the Java records cannot express, through the generated binding directly.
        assertNativeInvalid("spec.crop_width 0 is not between 1 and 16384",
                spec -> fovea_preprocess_spec.crop_width(spec, 0), UNCHANGED);
        assertNativeInvalid("spec.crop_height 0", spec -> fovea_preprocess_spec.crop_height(spec, 0), UNCHANGED);
        assertNativeInvalid("spec.std[1] is not a positive number",
                spec -> fovea_preprocess_spec.std(spec, 1, 0f), UNCHANGED);
        assertNativeInvalid("spec.mean[2] is not a finite number",
                spec -> fovea_preprocess_spec.mean(spec, 2, Float.NaN), UNCHANGED);
        assertNativeInvalid("spec.channel_order 7 is not RGB, BGR or GRAY",
                spec -> fovea_preprocess_spec.channel_order(spec, 7), UNCHANGED);
        assertNativeInvalid("spec.resize_shorter_side 16385 is over 16384",
                spec -> fovea_preprocess_spec.resize_shorter_side(spec, 16_385), UNCHANGED);
        assertNativeInvalid("image 0: format 9 is not RGB, BGR or GRAY", UNCHANGED,
                image -> fovea_image.format(image, 9));
        assertNativeInvalid("image 0: data is NULL", UNCHANGED,
                image -> fovea_image.data(image, MemorySegment.NULL));
    }

    @Test
    void javaSideMistakesAreIllegalArguments() {
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.toTensor(List.of(), IMAGENET, Device.CPU));
        assertThrows(IllegalArgumentException.class,
                () -> new ImageInput.Encoded(MemorySegment.ofArray(new byte[16])));
        assertThrows(IllegalArgumentException.class,
                () -> new ImageInput.Pixels(arena.allocate(16), -1, 4, 0, PixelFormat.RGB));
        float[] three = {0, 0, 0};
        float[] one = {1, 1, 1};
        assertThrows(IllegalArgumentException.class, () -> new Preprocessing(256, 0, 224, three, one,
                PixelFormat.RGB));
        assertThrows(IllegalArgumentException.class, () -> new Preprocessing(-1, 224, 224, three, one,
                PixelFormat.RGB));
        assertThrows(IllegalArgumentException.class, () -> new Preprocessing(256, 224, 224, three,
                new float[] {1, 0, 1}, PixelFormat.RGB));
        assertThrows(IllegalArgumentException.class, () -> new Preprocessing(256, 224, 224,
                new float[] {0, Float.NaN, 0}, one, PixelFormat.RGB));
        assertThrows(IllegalArgumentException.class, () -> new Preprocessing(256, 224, 224, three, one,
                PixelFormat.GRAY));
    }

    @Test
    void memoryFreedBeforeTheCallIsRefusedInJava() {
        ImageInput stale;
        try (Arena closed = Arena.ofConfined()) {
            stale = new ImageInput.Encoded(Fixtures.loadBytes("cat.png", closed));
        }
        ImageInput freed = stale;
        assertThrows(IllegalStateException.class,
                () -> Preprocessor.toTensor(List.of(goodPng, freed), IMAGENET, Device.CPU));
    }

    private static NativeException assertInvalid(String messageStart, List<ImageInput> images) {
        return assertInvalid(messageStart, images, IMAGENET);
    }

    private static NativeException assertInvalid(String messageStart, List<ImageInput> images, Preprocessing spec) {
        return assertInvalid(messageStart, () -> Preprocessor.toTensor(images, spec, Device.CPU).close());
    }

    private static NativeException assertInvalid(String messageStart, Executable call) {
        NativeException e = assertThrows(NativeException.class, call);
        assertEquals(NativeException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        assertTrue(e.getMessage().startsWith(messageStart), e.getMessage());
        return e;
    }

    /** Calls fovea_preprocess on one good 2 x 2 RGB image and an ImageNet spec, each changed by the given edits. */
    private static void assertNativeInvalid(String messageStart, Consumer<MemorySegment> editSpec,
            Consumer<MemorySegment> editImage) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment image = fovea_image.allocate(call); // fovea_image
            fovea_image.data(image, call.allocate(12));
            fovea_image.byte_size(image, 12);
            fovea_image.width(image, 2);
            fovea_image.height(image, 2);
            editImage.accept(image);
            MemorySegment spec = fovea_preprocess_spec.allocate(call); // fovea_preprocess_spec
            fovea_preprocess_spec.resize_shorter_side(spec, 256);
            fovea_preprocess_spec.crop_width(spec, 224);
            fovea_preprocess_spec.crop_height(spec, 224);
            for (int c = 0; c < 3; c++) {
                fovea_preprocess_spec.mean(spec, c, 0.5f);
                fovea_preprocess_spec.std(spec, c, 0.25f);
            }
            editSpec.accept(spec);
            MemorySegment out = call.allocate(C_POINTER); // fovea_tensor *
            MemorySegment error = NativeErrors.errorSlot(call);
            assertInvalid(messageStart, () -> NativeErrors.check(
                    fovea_preprocess(image, 1, spec, FOVEA_DEVICE_CPU(), 0, out, error), error));
        }
    }

    private static MemorySegment copy(MemorySegment bytes) {
        return arena.allocate(bytes.byteSize()).copyFrom(bytes);
    }

    private static long indexOf(MemorySegment bytes, byte first, byte second) {
        for (long i = 0; i + 1 < bytes.byteSize(); i++) {
            if (bytes.get(JAVA_BYTE, i) == first && bytes.get(JAVA_BYTE, i + 1) == second) {
                return i;
            }
        }
        throw new IllegalArgumentException("marker not found");
    }
}
