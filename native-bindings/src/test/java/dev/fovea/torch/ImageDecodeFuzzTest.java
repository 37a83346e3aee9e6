package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.Jazzer;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Fuzzes the JPEG/PNG decode path through the native library with arbitrary bytes: every input either becomes a
 * tensor of the spec's shape or is refused as INVALID_ARGUMENT. A native crash kills the JVM, which fails the run; the
 * input that did it is in libFuzzer's output and the crash file beside the seeds.
 *
 * <p>libFuzzer sees coverage of Java code only, and every input takes the same Java path; so the native outcome (which
 * decoder message came back) is fed to it as a state to explore, and inputs reaching new decoder errors are kept.
 *
 * <p>Seeds: {@code ImageDecodeFuzzTestInputs/decodeNeverCrashes}, small JPEG and PNG files of each colour type the
 * decoder handles (gray, palette, RGBA, gray+alpha, 16-bit), so mutations start inside real headers.
 */
class ImageDecodeFuzzTest {

    /** A small target keeps each execution cheap: the decode is what is fuzzed, not the resize. */
    private static final Preprocessing SMALL = Preprocessing.imagenet(24, 16);
    /** The id of the decoder-outcome state in {@link Jazzer#exploreState}. */
    private static final int OUTCOME = 1;

    @FuzzTest
    void decodeNeverCrashes(byte[] file) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(file.length).copyFrom(MemorySegment.ofArray(file));
            try (Tensor batch = Preprocessor.toTensor(List.of(new ImageInput.Encoded(bytes)), SMALL, Device.CPU)) {
                assertEquals(3 * 16 * 16, batch.elementCount());
                Jazzer.exploreState((byte) 0, OUTCOME);
            } catch (NativeException e) {
                Jazzer.exploreState((byte) (1 + Math.floorMod(e.getMessage().hashCode(), 255)), OUTCOME);
                if (e.kind() != NativeException.Kind.INVALID_ARGUMENT) {
                    throw new AssertionError("a bad file must be INVALID_ARGUMENT, got " + e.kind(), e);
                }
            }
        }
    }
}
