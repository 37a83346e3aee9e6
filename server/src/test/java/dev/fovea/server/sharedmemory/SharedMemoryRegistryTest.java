package dev.fovea.server.sharedmemory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Regions are mapped from files in the root only, every reference is bounds-checked and size-checked against the
 * file, and only callers the access policy lets in use them.
 */
class SharedMemoryRegistryTest {

    /** The test's own process, as the in-process transport presents it. */
    private static final Caller ME = Caller.inProcess();

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
    void readsCopyTheFileBytesAtTheirOffset() throws Exception {
        Path frames = file("frames", 1024);
        registry.register(ME, "frames", "/frames", 256, 512);
        try (Arena request = Arena.ofShared()) {
            MemorySegment copy = registry.read(ME, "frames", 10, 4, request, "image");
            assertEquals((byte) (256 + 10), copy.get(ValueLayout.JAVA_BYTE, 0));
            try (FileChannel client = FileChannel.open(frames, StandardOpenOption.WRITE)) {
                client.write(ByteBuffer.wrap(new byte[] {99}), 266);
            }
            assertEquals((byte) (256 + 10), copy.get(ValueLayout.JAVA_BYTE, 0),
                    "a copy: the client's later writes (or truncation) cannot reach it");
        }
        assertEquals(List.of(new SharedMemoryRegistry.RegionInfo("frames", "/frames", 256, 512)),
                registry.status(ME, ""));
    }

    @Test
    void writesLandInTheFileAtTheirOffset() throws Exception {
        Path out = file("out", 64);
        registry.register(ME, "out", "out", 16, 48);
        registry.write(ME, "out", 4, List.of(MemorySegment.ofArray(new byte[] {7, 8}),
                MemorySegment.ofArray(new byte[] {9})), "outputs 'x'");
        byte[] bytes = Files.readAllBytes(out);
        assertEquals(List.of((byte) 7, (byte) 8, (byte) 9), List.of(bytes[20], bytes[21], bytes[22]));
    }

    @Test
    void referencesOutsideTheRegionAreRefused() throws Exception {
        file("frames", 100);
        registry.register(ME, "frames", "frames", 0, 100);
        try (Arena request = Arena.ofShared()) {
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.read(ME, "frames", 90, 11, request, "image")));
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.read(ME, "frames", -1, 10, request, "image")));
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.read(ME, "frames", Long.MAX_VALUE, 2, request, "image")));
            assertEquals(SharedMemoryException.Reason.NOT_FOUND,
                    refusal(() -> registry.read(ME, "other", 0, 1, request, "image")));
            assertEquals(SharedMemoryException.Reason.INVALID, refusal(() -> registry.write(ME, "frames", 99,
                    List.of(MemorySegment.ofArray(new byte[2])), "output")));
        }
    }

    @Test
    void aFileTruncatedAfterRegistrationFailsReadsAndWritesByNameAndSize() throws Exception {
        Path frames = file("frames", 3 * 4096);
        registry.register(ME, "camera", "frames", 4096, 2 * 4096);
        try (Arena request = Arena.ofShared(); FileChannel client = FileChannel.open(frames,
                StandardOpenOption.WRITE)) {
            client.truncate(4096 + 100);
            SharedMemoryException read = assertThrows(SharedMemoryException.class,
                    () -> registry.read(ME, "camera", 0, 4096, request, "images[0].pixels.shared_memory"));
            assertEquals(SharedMemoryException.Reason.TRUNCATED, read.reason());
            assertEquals("images[0].pixels.shared_memory: region 'camera' needs bytes 4096..8192 of key 'frames', "
                    + "whose file holds 4196 bytes (truncated after registration; restore its size or register the "
                    + "region again)", read.getMessage());
            assertEquals(SharedMemoryException.Reason.TRUNCATED, refusal(() -> registry.write(ME, "camera", 4096,
                    List.of(MemorySegment.ofArray(new byte[16])), "outputs 'x'")));
            assertEquals(100, registry.read(ME, "camera", 0, 100, request, "image").byteSize(),
                    "bytes the file still holds can be read");
            client.truncate(0);
            assertEquals(SharedMemoryException.Reason.TRUNCATED,
                    refusal(() -> registry.read(ME, "camera", 0, 1, request, "image")));
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
                        refusal(() -> registry.register(ME, "r", key, 0, 8)), key);
            }
            assertEquals(SharedMemoryException.Reason.INVALID,
                    refusal(() -> registry.register(ME, "r", "missing", 0, 8)));
        } finally {
            Files.delete(outside);
        }
    }

    @Test
    void aRegionLargerThanItsFileIsRefused() throws Exception {
        file("small", 10);
        assertEquals(SharedMemoryException.Reason.INVALID, refusal(() -> registry.register(ME, "r", "small", 4, 7)));
        assertEquals(SharedMemoryException.Reason.INVALID, refusal(() -> registry.register(ME, "r", "small", 0, 0)));
    }

    @Test
    void namesAreUnique() throws Exception {
        file("frames", 10);
        registry.register(ME, "r", "frames", 0, 10);
        assertEquals(SharedMemoryException.Reason.ALREADY_EXISTS,
                refusal(() -> registry.register(ME, "r", "frames", 0, 10)));
    }

    /**
     * The size check and the copy are two steps; a client truncating between them makes the copy touch a page that
     * is gone. That fault must become TRUNCATED too, never a crash or an InternalError for the caller.
     */
    @Test
    void readsRacingAClientThatTruncatesAndRestoresItsFileFailCleanly() throws Exception {
        int size = 1 << 20;
        Path frames = file("frames", size);
        registry.register(ME, "camera", "frames", 0, size);
        AtomicBoolean done = new AtomicBoolean();
        Thread client = Thread.ofPlatform().start(() -> {
            try (RandomAccessFile file = new RandomAccessFile(frames.toFile(), "rw")) {
                while (!done.get()) {
                    file.setLength(0);
                    file.setLength(size);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        int reads = 1_000;
        int copied = 0;
        int refused = 0;
        int faultsMidCopy = 0;
        try {
            for (int i = 0; i < reads; i++) {
                try (Arena request = Arena.ofConfined()) {
                    registry.read(ME, "camera", 0, size, request, "image");
                    copied++;
                } catch (SharedMemoryException e) {
                    assertEquals(SharedMemoryException.Reason.TRUNCATED, e.reason());
                    refused++;
                    if (e.getCause() instanceof InternalError) {
                        faultsMidCopy++;
                    }
                }
            }
        } finally {
            done.set(true);
            client.join();
        }
        assertEquals(reads, copied + refused);
        System.out.printf("racing reads: %d copied, %d refused (%d by a fault mid-copy)%n", copied, refused,
                faultsMidCopy);
    }

    @Test
    void anUnregisteredRegionIsNoLongerFound() throws Exception {
        file("frames", 64);
        registry.register(ME, "frames", "frames", 0, 64);
        registry.unregister(ME, "frames");
        assertEquals(List.of(), registry.status(ME, ""));
        assertEquals(SharedMemoryException.Reason.NOT_FOUND,
                refusal(() -> registry.read(ME, "frames", 0, 1, Arena.ofAuto(), "image")));
        registry.unregister(ME, "frames");
    }

    @Test
    void networkCallersAreRefusedUnlessAllowed() throws Exception {
        file("frames", 64);
        assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED,
                refusal(() -> registry.register(Caller.network(), "r", "frames", 0, 64)));
        assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED,
                refusal(() -> registry.status(Caller.network(), "")));
        try (SharedMemoryRegistry open = SharedMemoryRegistry.enabled(root,
                new SharedMemoryAccess(true, Set.of(SharedMemoryAccess.serverUid())))) {
            open.register(Caller.network(), "r", "frames", 0, 64);
            try (Arena request = Arena.ofConfined()) {
                assertEquals(64, open.read(Caller.network(), "r", 0, 64, request, "image").byteSize());
            }
            assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED, refusal(() -> open.write(Caller.network(),
                    "r", 0, List.of(MemorySegment.ofArray(new byte[1])), "output")),
                    "a network caller's uid is unknown, so it owns no file to receive outputs in");
            open.write(ME, "r", 0, List.of(MemorySegment.ofArray(new byte[1])), "output");
        }
    }

    @Test
    void unixSocketPeersNeedAnAllowedUidAndMayRegisterOnlyTheirOwnFiles() throws Exception {
        file("frames", 64);
        int other = SharedMemoryAccess.serverUid() + 1;
        assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED,
                refusal(() -> registry.register(Caller.unixSocket(other), "r", "frames", 0, 64)));
        assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED,
                refusal(() -> registry.register(Caller.unixSocket(Caller.UNKNOWN_UID), "r", "frames", 0, 64)));
        registry.register(Caller.unixSocket(SharedMemoryAccess.serverUid()), "r", "frames", 0, 64);
        try (SharedMemoryRegistry both = SharedMemoryRegistry.enabled(root,
                new SharedMemoryAccess(false, Set.of(SharedMemoryAccess.serverUid(), other)))) {
            SharedMemoryException e = assertThrows(SharedMemoryException.class,
                    () -> both.register(Caller.unixSocket(other), "r", "frames", 0, 64));
            assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED, e.reason());
            assertTrue(e.getMessage().contains("only its own files"), e.getMessage());
            both.register(ME, "r", "frames", 0, 64);
            assertEquals(SharedMemoryException.Reason.PERMISSION_DENIED, refusal(() -> both.write(
                    Caller.unixSocket(other), "r", 0, List.of(MemorySegment.ofArray(new byte[1])), "output")),
                    "outputs only for the file's owner");
        }
    }

    @Test
    void aDisabledRegistryRefusesEverything() {
        SharedMemoryRegistry off = SharedMemoryRegistry.disabled();
        assertFalse(off.isEnabled());
        assertEquals(SharedMemoryException.Reason.DISABLED, refusal(() -> off.register(ME, "r", "frames", 0, 8)));
        assertEquals(SharedMemoryException.Reason.DISABLED, refusal(() -> off.status(ME, "")));
    }
}
