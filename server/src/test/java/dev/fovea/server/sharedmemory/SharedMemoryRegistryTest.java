package dev.fovea.server.sharedmemory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Regions are mapped from files in the root only, every view is bounds-checked, and unregistering is safe. */
class SharedMemoryRegistryTest {

    @TempDir
    Path root;

    private SharedMemoryRegistry registry;

    @BeforeEach
    void open() {
        registry = SharedMemoryRegistry.enabled(root);
    }

    @AfterEach
    void close() {
        registry.close();
    }

    private Path file(String name, int size) throws Exception {
        byte[] bytes = new byte[size];
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) i;
        }
        return Files.write(root.resolve(name), bytes);
    }

    private static SharedMemoryException.Reason refusal(Runnable call) {
        return assertThrows(SharedMemoryException.class, call::run).reason();
    }

    @Test
    void viewsSeeTheFileBytesAtTheirOffsetWithoutACopy() throws Exception {
        Path frames = file("frames", 1024);
        registry.register("frames", "/frames", 256, 512);
        try (Arena request = Arena.ofShared()) {
            MemorySegment view = registry.view("frames", 10, 4, request, "image");
            assertEquals((byte) (256 + 10), view.get(ValueLayout.JAVA_BYTE, 0));
            try (FileChannel client = FileChannel.open(frames, StandardOpenOption.WRITE)) {
                client.write(ByteBuffer.wrap(new byte[] {99}), 266);
            }
            assertEquals(99, view.get(ValueLayout.JAVA_BYTE, 0), "a view of the mapping sees the client's writes");
            assertTrue(view.isReadOnly());
        }
        assertEquals(List.of(new SharedMemoryRegistry.RegionInfo("frames", "/frames", 256, 512)),
                registry.status(""));
    }

    @Test
    void viewsOutsideTheRegionAreRefused() throws Exception {
        file("frames", 100);
        registry.register("frames", "frames", 0, 100);
        try (Arena request = Arena.ofShared()) {
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.view("frames", 90, 11, request, "image")));
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.view("frames", -1, 10, request, "image")));
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.view("frames", Long.MAX_VALUE, 2, request, "image")));
            assertEquals(SharedMemoryException.Reason.NOT_FOUND,
                    refusal(() -> registry.view("other", 0, 1, request, "image")));
        }
    }

    @Test
    void keysCannotLeaveTheRoot() throws Exception {
        Path outside = Files.createTempFile("outside", ".bin");
        try {
            Files.write(outside, new byte[64]);
            Files.createSymbolicLink(root.resolve("link"), outside);
            for (String key : new String[] {"../etc/passwd", "/..", "..", "a/b", "", "link", "/dev/shm/x"}) {
                assertEquals(SharedMemoryException.Reason.INVALID,
                        refusal(() -> registry.register("r", key, 0, 8)), key);
            }
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.register("r", "missing", 0, 8)));
        } finally {
            Files.delete(outside);
        }
    }

    @Test
    void aRegionLargerThanItsFileIsRefused() throws Exception {
        file("small", 10);
        assertEquals(SharedMemoryException.Reason.INVALID, refusal(() -> registry.register("r", "small", 4, 7)));
        assertEquals(SharedMemoryException.Reason.INVALID, refusal(() -> registry.register("r", "small", 0, 0)));
    }

    @Test
    void namesAreUnique() throws Exception {
        file("frames", 10);
        registry.register("r", "frames", 0, 10);
        assertEquals(SharedMemoryException.Reason.ALREADY_EXISTS,
                refusal(() -> registry.register("r", "frames", 0, 10)));
    }

    @Test
    void unregisteringARegionInUseKeepsItMappedUntilTheRequestIsDone() throws Exception {
        file("frames", 64);
        registry.register("frames", "frames", 0, 64);
        Arena request = Arena.ofShared();
        MemorySegment view = registry.view("frames", 0, 64, request, "image");
        registry.unregister("frames");
        assertEquals(List.of(), registry.status(""));
        assertEquals(SharedMemoryException.Reason.NOT_FOUND,
                refusal(() -> registry.view("frames", 0, 1, Arena.ofAuto(), "image")));
        assertEquals(5, view.get(ValueLayout.JAVA_BYTE, 5), "still mapped for the request that holds it");
        request.close();
        assertThrows(IllegalStateException.class, () -> view.get(ValueLayout.JAVA_BYTE, 5));
        registry.unregister("frames");
    }

    @Test
    void aDisabledRegistryRefusesEverything() {
        SharedMemoryRegistry off = SharedMemoryRegistry.disabled();
        assertFalse(off.isEnabled());
        assertEquals(SharedMemoryException.Reason.DISABLED, refusal(() -> off.register("r", "frames", 0, 8)));
        assertEquals(SharedMemoryException.Reason.DISABLED, refusal(() -> off.status("")));
    }
}
