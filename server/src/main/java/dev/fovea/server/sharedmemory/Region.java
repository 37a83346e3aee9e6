package dev.fovea.server.sharedmemory;

import static dev.fovea.server.limits.ClientText.quote;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One registered region: a mapping of {@code byteSize} bytes at {@code offset} of a file, with a reference count.
 *
 * <p>The file stays open as long as it is mapped, so every copy first checks, on that open file, that the file still
 * holds the bytes it needs: a client can truncate the file at any time, and touching a mapped page past the end of its
 * file raises SIGBUS. Between that check and the copy the file can still shrink, so the bytes are only ever touched by
 * {@link MemorySegment#copy}: the JVM turns a SIGBUS during such a copy into an {@link InternalError}, which becomes a
 * {@link SharedMemoryException.Reason#TRUNCATED} refusal. Native code (the decoder, libtorch) never sees the mapping.
 *
 * <p>Ownership: the registry holds one reference; each copy holds one while it runs. The last release unmaps the file
 * and closes it. Thread-safe.
 */
final class Region {

    final String name;
    final String key;
    final long offset;
    final long byteSize;
    /** The uid owning the file at registration: outputs go only to callers with this uid. */
    final int fileOwner;
    private final Arena mapping;
    private final FileChannel file;
    private final MemorySegment mapped;
    private final AtomicInteger references = new AtomicInteger(1);

    private Region(String name, String key, long offset, long byteSize, int fileOwner, Arena mapping,
            FileChannel file, MemorySegment mapped) {
        this.name = name;
        this.key = key;
        this.offset = offset;
        this.byteSize = byteSize;
        this.fileOwner = fileOwner;
        this.mapping = mapping;
        this.file = file;
        this.mapped = mapped;
    }

    /**
     * Opens and maps {@code path}: read-write where the server may write the file (outputs can go there), read-only
     * otherwise. No links are followed: the file checked by key must be the file mapped, even if someone swaps in a
     * link.
     */
    static Region map(String name, String key, Path path, long offset, long byteSize, Caller caller) {
        FileChannel file = null;
        Arena mapping = Arena.ofShared();
        try {
            boolean writable = true;
            try {
                file = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS);
            } catch (AccessDeniedException e) {
                writable = false;
                file = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            }
            int owner = ownerOf(path, key);
            if (caller.uidKnown() && owner != caller.uid()) {
                throw SharedMemoryAccess.denied("key " + quote(key) + ": the file belongs to uid " + owner
                        + ", not to the " + caller.describe() + "; a client may register only its own files");
            }
            long fileSize = file.size();
            if (offset > fileSize - byteSize) {
                throw new SharedMemoryException(SharedMemoryException.Reason.INVALID, "offset " + offset
                        + " + byte_size " + byteSize + " exceeds key " + quote(key) + " (" + fileSize + " bytes)");
            }
            MemorySegment mapped = writable ? file.map(FileChannel.MapMode.READ_WRITE, offset, byteSize, mapping)
                    : file.map(FileChannel.MapMode.READ_ONLY, offset, byteSize, mapping).asReadOnly();
            return new Region(name, key, offset, byteSize, owner, mapping, file, mapped);
        } catch (IOException | RuntimeException e) {
            mapping.close();
            closeQuietly(file);
            if (e instanceof SharedMemoryException refused) {
                throw refused;
            }
            throw new SharedMemoryException(SharedMemoryException.Reason.INVALID,
                    "key " + quote(key) + ": could not map it: " + e.getMessage());
        }
    }

    /**
     * The file's owner, read after opening it. The directory is sticky (/dev/shm is 1777), so only the owner can
     * replace the name; a caller who owns the name and swaps it between our open and this check gains nothing, as
     * hard links to others' files need their write access (fs.protected_hardlinks).
     */
    private static int ownerOf(Path path, String key) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS);
        if (!attributes.isRegularFile()) {
            throw new SharedMemoryException(SharedMemoryException.Reason.INVALID,
                    "key " + quote(key) + " must name a regular file");
        }
        return (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    /** Copies {@code length} bytes at {@code at} (within the region, already bounds-checked) into {@code into}. */
    void read(long at, long length, MemorySegment into, String field) {
        checkFileHolds(at, length, field);
        try {
            MemorySegment.copy(mapped, at, into, 0, length);
        } catch (InternalError e) {
            throw truncated(at, length, field, "shrank during the copy", e);
        }
    }

    /** Copies {@code sources} one after another into the region from {@code at} (already bounds-checked). */
    void write(long at, List<MemorySegment> sources, long length, String field) {
        if (mapped.isReadOnly()) {
            throw new SharedMemoryException(SharedMemoryException.Reason.INVALID, field + ": region " + quote(name)
                    + " is mapped read-only (the server may not write its file)");
        }
        checkFileHolds(at, length, field);
        long position = at;
        try {
            for (MemorySegment source : sources) {
                MemorySegment.copy(source, 0, mapped, position, source.byteSize());
                position += source.byteSize();
            }
        } catch (InternalError e) {
            throw truncated(at, length, field, "shrank during the copy", e);
        }
    }

    /** fstat on the open file (not by name: the file mapped is the one that counts). */
    private void checkFileHolds(long at, long length, String field) {
        long size;
        try {
            size = file.size();
        } catch (IOException e) {
            throw new SharedMemoryException(SharedMemoryException.Reason.TRUNCATED,
                    field + ": region " + quote(name) + ": its file cannot be read: " + e.getMessage());
        }
        if (offset + at + length > size) {
            throw truncated(at, length, field, "holds " + size + " bytes", null);
        }
    }

    private SharedMemoryException truncated(long at, long length, String field, String fileState,
            Throwable cause) {
        SharedMemoryException e = new SharedMemoryException(SharedMemoryException.Reason.TRUNCATED, field
                + ": region " + quote(name) + " needs bytes " + (offset + at) + ".." + (offset + at + length)
                + " of key " + quote(key) + ", whose file " + fileState + " (truncated after registration; restore "
                + "its size or register the region again)");
        if (cause != null) {
            e.initCause(cause);
        }
        return e;
    }

    SharedMemoryRegistry.RegionInfo info() {
        return new SharedMemoryRegistry.RegionInfo(name, key, offset, byteSize);
    }

    void retain() {
        references.incrementAndGet();
    }

    void release() {
        if (references.decrementAndGet() == 0) {
            mapping.close();
            closeQuietly(file);
        }
    }

    private static void closeQuietly(FileChannel file) {
        if (file != null) {
            try {
                file.close();
            } catch (IOException e) {
                // Only a descriptor to give back; nothing was written through the channel.
            }
        }
    }
}
