package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every failure inside libtorch surfaces as a {@link NativeException} carrying libtorch's message, and the module it
 * happened on keeps working.
 */
class BadInputTest {

    private static final String INPUT = "tiny_cnn.input_b1.bin";

    private static Arena arena;
    private static TorchModule cnn;
    private static Tensor goodInput;

    @BeforeAll
    static void loadModel() {
        arena = Arena.ofShared();
        cnn = TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.CPU);
        goodInput = Tensor.wrap(Fixtures.loadFloats(INPUT, arena), DType.FLOAT32, Fixtures.shape(INPUT));
    }

    @AfterAll
    static void close() {
        goodInput.close();
        cnn.close();
        arena.close();
    }

    @Test
    void missingFileIsReportedWithItsPath() {
        Path missing = Path.of("/nonexistent/fovea/model.pt");
        NativeException e = assertThrows(NativeException.class, () -> TorchModule.load(missing, Device.CPU));
        assertEquals(NativeException.Kind.TORCH, e.kind());
        assertTrue(e.getMessage().contains("/nonexistent/fovea/model.pt"), e.getMessage());
    }

    @Test
    void corruptFileIsReported(@TempDir Path dir) throws IOException {
        Path corrupt = dir.resolve("corrupt.pt");
        byte[] model = Files.readAllBytes(Fixtures.path("tiny_cnn.pt"));
        Files.write(corrupt, Arrays.copyOf(model, model.length / 2));
        NativeException e = assertThrows(NativeException.class, () -> TorchModule.load(corrupt, Device.CPU));
        assertEquals(NativeException.Kind.TORCH, e.kind());
        assertTrue(!e.getMessage().isBlank());
    }

    @Test
    void fileThatIsNotAnArchiveIsReported(@TempDir Path dir) throws IOException {
        Path text = dir.resolve("model.pt");
        Files.writeString(text, "this is not a TorchScript archive");
        NativeException e = assertThrows(NativeException.class, () -> TorchModule.load(text, Device.CPU));
        assertEquals(NativeException.Kind.TORCH, e.kind());
    }

    @Test
    void unavailableCudaDeviceIsReported() {
        if (TorchRuntime.cudaDeviceCount() > 7) {
            return; // a machine with 8 GPUs has a cuda:7
        }
        NativeException e = assertThrows(NativeException.class,
                () -> TorchModule.load(Fixtures.path("tiny_cnn.pt"), Device.cuda(7)));
        assertTrue(!e.getMessage().isBlank());
    }

    @Test
    void wrongRankIsReportedAndTheModuleStillWorks() {
        MemorySegment flat = arena.allocate(4L * 3 * 32 * 32);
        try (Tensor wrong = Tensor.wrap(flat, DType.FLOAT32, 3 * 32, 32)) {
            assertTorchFailure(() -> cnn.forward(wrong));
        }
        assertStillWorks();
    }

    @Test
    void wrongShapeIsReportedAndTheModuleStillWorks() {
        MemorySegment oneChannel = arena.allocate(4L * 32 * 32);
        try (Tensor wrong = Tensor.wrap(oneChannel, DType.FLOAT32, 1, 1, 32, 32)) {
            NativeException e = assertTorchFailure(() -> cnn.forward(wrong));
            assertTrue(e.getMessage().contains("channels"), e.getMessage());
        }
        assertStillWorks();
    }

    @Test
    void wrongDtypeIsReportedAndTheModuleStillWorks() {
        MemorySegment bytes = arena.allocate(3L * 32 * 32);
        try (Tensor wrong = Tensor.wrap(bytes, DType.UINT8, 1, 3, 32, 32)) {
            assertTorchFailure(() -> cnn.forward(wrong));
        }
        assertStillWorks();
    }

    @Test
    void wrongNumberOfInputsIsReported() {
        assertTorchFailure(() -> cnn.forward(goodInput, goodInput));
        assertTorchFailure(() -> cnn.forward(List.of()));
        assertStillWorks();
    }

    @Test
    void modelThatRaisesReportsItsMessageAndRunsAgain() {
        try (TorchModule raising = TorchModule.load(Fixtures.path("raises_on_negative.pt"), Device.CPU)) {
            MemorySegment values = arena.allocate(4L * 4);
            values.setAtIndex(JAVA_FLOAT, 2, -1f);
            try (Tensor negative = Tensor.wrap(values, DType.FLOAT32, 4)) {
                NativeException e = assertTorchFailure(() -> raising.forward(negative));
                assertTrue(e.getMessage().contains("fovea fixture: negative input"), e.getMessage());

                values.setAtIndex(JAVA_FLOAT, 2, 1f);
                List<Tensor> outputs = raising.forward(negative);
                try (Tensor output = outputs.getFirst()) {
                    assertArrayEquals(new float[] {1, 1, 2, 1},
                            output.data().toArray(JAVA_FLOAT));
                }
            }
        }
    }

    @Test
    void outputThatIsNotTensorsIsUnsupported() {
        try (TorchModule dict = TorchModule.load(Fixtures.path("dict_output.pt"), Device.CPU)) {
            NativeException e = assertThrows(NativeException.class, () -> dict.forward(goodInput));
            assertEquals(NativeException.Kind.UNSUPPORTED_OUTPUT, e.kind());
            assertTrue(e.getMessage().contains("GenericDict"), e.getMessage());
        }
    }

    @Test
    void nestedTupleAndListOutputsAreFlattenedInOrder() {
        try (TorchModule nested = TorchModule.load(Fixtures.path("nested_outputs.pt"), Device.CPU)) {
            List<Tensor> outputs = nested.forward(goodInput);
            try {
                assertEquals(3, outputs.size());
                assertArrayEquals(new long[] {1, 3, 32, 32}, outputs.get(0).shape());
                assertArrayEquals(new long[] {1}, outputs.get(1).shape());
                assertArrayEquals(new long[] {}, outputs.get(2).shape());
            } finally {
                outputs.forEach(Tensor::close);
            }
        }
    }

    private static NativeException assertTorchFailure(Executable call) {
        NativeException e = assertThrows(NativeException.class, call);
        assertEquals(NativeException.Kind.TORCH, e.kind(), e.getMessage());
        assertTrue(!e.getMessage().isBlank());
        return e;
    }

    private static void assertStillWorks() {
        try (Tensor logits = cnn.forward(goodInput).getFirst()) {
            assertArrayEquals(Fixtures.floats("tiny_cnn.output_b1.bin"),
                    logits.data().toArray(JAVA_FLOAT), 1e-5f);
        }
    }
}
