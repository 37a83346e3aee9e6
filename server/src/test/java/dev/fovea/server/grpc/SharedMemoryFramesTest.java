package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.sharedmemory.Caller;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.v1.Image;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.RawPixels;
import dev.fovea.v1.Result;
import dev.fovea.v1.SharedMemoryRef;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** fovea.v1 images that reference a registered shared-memory region instead of carrying their bytes. */
@Timeout(60)
class SharedMemoryFramesTest {

    private static final int SIDE = 32;

    @TempDir
    Path shm;

    private static Image pixelsAt(String region, long offset, long byteSize) {
        return Image.newBuilder().setPixels(RawPixels.newBuilder().setWidth(SIDE).setHeight(SIDE)
                .setFormat(PixelFormat.PIXEL_FORMAT_RGB).setSharedMemory(SharedMemoryRef.newBuilder()
                        .setRegion(region).setOffset(offset).setByteSize(byteSize))).build();
    }

    private static Result predict(TestServer server, Image image) {
        return server.blocking().predict(PredictRequest.newBuilder().setModel("cnn").addImages(image).build())
                .getResults(0);
    }

    private static Status.Code refusal(TestServer server, Image image) {
        return assertThrows(StatusRuntimeException.class, () -> predict(server, image)).getStatus().getCode();
    }

    @Test
    void aFrameInSharedMemoryGetsTheSameResultAsTheSameFrameInline() throws Exception {
        Image inlineFrame = TestImages.pixels(TestImages.picture(SIDE, SIDE, 3));
        byte[] frame = inlineFrame.getPixels().getData().toByteArray();
        byte[] file = new byte[100 + frame.length];
        System.arraycopy(frame, 0, file, 100, frame.length);
        Files.write(shm.resolve("frames"), file);
        SharedMemoryRegistry regions = SharedMemoryRegistry.enabled(shm);
        try (TestServer server = TestServer.start(64, regions)) {
            regions.register(Caller.inProcess(), "camera", "/frames", 0, file.length);
            Result inline = predict(server, inlineFrame);
            Result shared = predict(server, pixelsAt("camera", 100, frame.length));
            assertEquals(inline.getClassesList(), shared.getClassesList());

            assertEquals(Status.Code.INVALID_ARGUMENT, refusal(server, pixelsAt("camera", 101, frame.length)),
                    "a reference past the region's end");
            assertEquals(Status.Code.INVALID_ARGUMENT, refusal(server, pixelsAt("camera", 0, 10)),
                    "a reference too small for the frame");
            assertEquals(Status.Code.NOT_FOUND, refusal(server, pixelsAt("other", 0, frame.length)));
            Image both = pixelsAt("camera", 100, frame.length).toBuilder().setPixels(pixelsAt("camera", 100,
                    frame.length).getPixels().toBuilder().setData(ByteString.copyFrom(frame))).build();
            assertEquals(Status.Code.INVALID_ARGUMENT, refusal(server, both));

            regions.unregister(Caller.inProcess(), "camera");
            assertEquals(Status.Code.NOT_FOUND, refusal(server, pixelsAt("camera", 100, frame.length)));
            assertEquals(5, predict(server, inlineFrame).getClassesCount(), "the server goes on");
        }
    }

    /**
     * Before frames were copied out of the mapping, the decoder read the region in place and the truncated file's
     * missing pages raised SIGBUS in native code: the JVM, and this test's fork, died.
     */
    @Test
    void aFrameInAFileTruncatedAfterRegistrationIsRefusedAndTheServerGoesOn() throws Exception {
        Image inlineFrame = TestImages.pixels(TestImages.picture(SIDE, SIDE, 3));
        int frameBytes = inlineFrame.getPixels().getData().size();
        Path file = Files.write(shm.resolve("frames"), new byte[4 * 4096]);
        SharedMemoryRegistry regions = SharedMemoryRegistry.enabled(shm);
        try (TestServer server = TestServer.start(64, regions);
                FileChannel client = FileChannel.open(file, StandardOpenOption.WRITE)) {
            regions.register(Caller.inProcess(), "camera", "/frames", 0, 4 * 4096);
            client.truncate(0);
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> predict(server, pixelsAt("camera", 4096, frameBytes)));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
            assertEquals("images[0].pixels.shared_memory: region 'camera' needs bytes 4096..7168 of key '/frames', "
                    + "whose file holds 0 bytes (truncated after registration; restore its size or register the "
                    + "region again)", e.getStatus().getDescription());
            assertEquals(5, predict(server, inlineFrame).getClassesCount(), "the server goes on");
        }
    }

    @Test
    void aServerWithoutSharedMemoryRefusesReferences() throws Exception {
        try (TestServer server = TestServer.start()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> predict(server, pixelsAt("camera", 0, SIDE * SIDE * 3)));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
            assertEquals(true, e.getStatus().getDescription().contains("--allow-shared-memory"));
        }
    }
}
