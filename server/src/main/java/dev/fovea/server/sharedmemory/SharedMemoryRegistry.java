package dev.fovea.server.sharedmemory;

import dev.fovea.server.limits.ClientText;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The system shared-memory regions clients have registered (Triton's shared-memory extension): a client on the same
 * host writes frames into a file under {@code /dev/shm}, registers it once, and then sends only references (region,
 * offset, size); the server maps the file and hands the model views of it, with no copy.
 *
 * <p>Safety: keys are plain names resolved inside the root folder (no separators, no {@code ..}, no links out of
 * it); every view is bounds-checked against its region. Lifetime: a region is a mapping with a reference count; the
 * registry holds one reference and every view handed out holds one until the arena it was bound to closes (the
 * request's memory, closed by the model runner once the request has run). Unregistering drops the registry's
 * reference, so a region in use stays mapped until its last request is done, and new requests cannot find it.
 *
 * <p>Not defended: a client that shrinks a registered file while the server reads it makes the native reader fault.
 * Only processes that can write to the root folder can do that, which in the sidecar layout is the application the
 * server runs for (see deploy/).
 *
 * <p>Thread-safe.
 */
public final class SharedMemoryRegistry implements AutoCloseable {

    /** Where POSIX shared memory ({@code shm_open}) lives on Linux. */
    public static final Path SYSTEM_ROOT = Path.of("/dev/shm");

    private static final Pattern KEY = Pattern.compile("/?[A-Za-z0-9_.-]{1,255}");

    /** What a status call reports of one region. */
    public record RegionInfo(String name, String key, long offset, long byteSize) {}

    private final Path root;
    private final boolean enabled;
    /** Guarded by itself; sorted so status lists come out in name order. */
    private final Map<String, Region> regions = new TreeMap<>();

    private SharedMemoryRegistry(Path root, boolean enabled) {
        this.root = root;
        this.enabled = enabled;
    }

    /** A registry over {@code root} (normally {@link #SYSTEM_ROOT}). */
    public static SharedMemoryRegistry enabled(Path root) {
        return new SharedMemoryRegistry(root, true);
    }

    /** A registry that refuses every call: the default, as shared memory lets clients name server-side files. */
    public static SharedMemoryRegistry disabled() {
        return new SharedMemoryRegistry(SYSTEM_ROOT, false);
    }

    public boolean isEnabled() {
        return enabled;
    }

    /**
     * Maps {@code byteSize} bytes from {@code offset} of the file {@code key} names under the root, as region
     * {@code name}.
     */
    public void register(String name, String key, long offset, long byteSize) {
        checkEnabled();
        if (name == null || name.isEmpty()) {
            throw invalid("name is empty");
        }
        if (key == null || !KEY.matcher(key).matches()) {
            throw invalid("key " + ClientText.quote(key)
                    + " is not a shared-memory name such as /fovea_frames (letters, digits, "
                    + "'_', '-', '.'; one optional leading '/')");
        }
        if (offset < 0 || byteSize <= 0 || offset > Long.MAX_VALUE - byteSize) {
            throw invalid("offset " + offset + " and byte_size " + byteSize + " must be >= 0 and > 0");
        }
        synchronized (regions) {
            if (regions.containsKey(name)) {
                throw new SharedMemoryException(SharedMemoryException.Reason.ALREADY_EXISTS,
                        "a shared-memory region named " + ClientText.quote(name) + " is already registered");
            }
            regions.put(name, Region.map(name, key, file(key), offset, byteSize));
        }
    }

    /**
     * Drops a region; requests already using it keep it mapped until they are done. Unknown names are ignored; the
     * empty name drops every region (as Triton does).
     */
    public void unregister(String name) {
        checkEnabled();
        if (name.isEmpty()) {
            releaseAll();
            return;
        }
        Region region;
        synchronized (regions) {
            region = regions.remove(name);
        }
        if (region != null) {
            region.release();
        }
    }

    private void releaseAll() {
        List<Region> all;
        synchronized (regions) {
            all = new ArrayList<>(regions.values());
            regions.clear();
        }
        all.forEach(Region::release);
    }

    /** One region, or all of them when {@code name} is empty. */
    public List<RegionInfo> status(String name) {
        checkEnabled();
        synchronized (regions) {
            if (name.isEmpty()) {
                return regions.values().stream().map(Region::info).toList();
            }
            return List.of(Optional.ofNullable(regions.get(name)).orElseThrow(() -> notFound(name)).info());
        }
    }

    /**
     * A read-only view of {@code byteSize} bytes at {@code offset} in region {@code name}, valid until
     * {@code owner} closes: the region stays mapped until then, even if it is unregistered meanwhile.
     *
     * @param field the request field that named the region, for error messages
     */
    public MemorySegment view(String name, long offset, long byteSize, Arena owner, String field) {
        return lease(name, offset, byteSize, owner, field).asReadOnly();
    }

    /** A writable view, for outputs a client asked to receive in a region; as {@link #view}. */
    public MemorySegment writableView(String name, long offset, long byteSize, Arena owner, String field) {
        MemorySegment view = lease(name, offset, byteSize, owner, field);
        if (view.isReadOnly()) {
            throw invalid(field + ": region " + ClientText.quote(name)
                    + " is mapped read-only (the server may not write its file)");
        }
        return view;
    }

    private MemorySegment lease(String name, long offset, long byteSize, Arena owner, String field) {
        checkEnabled();
        Region region;
        synchronized (regions) {
            region = regions.get(name);
            if (region == null) {
                throw new SharedMemoryException(SharedMemoryException.Reason.NOT_FOUND,
                        field + ": no shared-memory region named " + ClientText.quote(name) + " is registered");
            }
            if (offset < 0 || byteSize < 0 || offset > region.byteSize - byteSize) {
                throw invalid(field + ": offset " + offset + " + " + byteSize + " bytes lies outside region "
                        + ClientText.quote(name) + " (" + region.byteSize + " bytes)");
            }
            region.retain();
        }
        // The view's cleanup, run when the owner closes, returns the reference taken above.
        return region.mapped.asSlice(offset, byteSize).reinterpret(owner, unused -> region.release());
    }

    private Path file(String key) {
        String fileName = key.startsWith("/") ? key.substring(1) : key;
        if (fileName.equals(".") || fileName.equals("..")) {
            throw invalid("key " + ClientText.quote(key) + " does not name a file");
        }
        try {
            Path rootReal = root.toRealPath();
            Path file = rootReal.resolve(fileName).toRealPath();
            if (!file.getParent().equals(rootReal) || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                throw invalid("key " + ClientText.quote(key) + " must name a regular file directly in " + root);
            }
            return file;
        } catch (NoSuchFileException e) {
            throw invalid("key " + ClientText.quote(key) + ": no such file in " + root);
        } catch (IOException e) {
            throw invalid("key " + ClientText.quote(key) + ": " + ClientText.quote(e.getMessage()));
        }
    }

    private void checkEnabled() {
        if (!enabled) {
            throw new SharedMemoryException(SharedMemoryException.Reason.DISABLED,
                    "shared memory is off; start the server with --allow-shared-memory to use it");
        }
    }

    private static SharedMemoryException invalid(String message) {
        return new SharedMemoryException(SharedMemoryException.Reason.INVALID, message);
    }

    private static SharedMemoryException notFound(String name) {
        return new SharedMemoryException(SharedMemoryException.Reason.NOT_FOUND,
                "no shared-memory region named " + ClientText.quote(name) + " is registered");
    }

    @Override
    public void close() {
        releaseAll();
    }

    /** One mapped region; unmapped when its last reference is released. */
    private static final class Region {
        final String name;
        final String key;
        final long offset;
        final long byteSize;
        final Arena mapping;
        final MemorySegment mapped;
        final AtomicInteger references = new AtomicInteger(1);

        private Region(String name, String key, long offset, long byteSize, Arena mapping, MemorySegment mapped) {
            this.name = name;
            this.key = key;
            this.offset = offset;
            this.byteSize = byteSize;
            this.mapping = mapping;
            this.mapped = mapped;
        }

        static Region map(String name, String key, Path file, long offset, long byteSize) {
            Arena mapping = Arena.ofShared();
            try {
                long fileSize = Files.size(file);
                if (offset > fileSize - byteSize) {
                    throw invalid("offset " + offset + " + byte_size " + byteSize + " exceeds " + file + " ("
                            + fileSize + " bytes)");
                }
                return new Region(name, key, offset, byteSize, mapping, mapFile(file, offset, byteSize, mapping));
            } catch (IOException | RuntimeException e) {
                mapping.close();
                if (e instanceof SharedMemoryException refused) {
                    throw refused;
                }
                throw invalid("key " + ClientText.quote(key) + ": could not map " + file + ": "
                        + ClientText.quote(e.getMessage()));
            }
        }

        /** Read-write where the server may write the file (outputs can go there), read-only otherwise. */
        private static MemorySegment mapFile(Path file, long offset, long byteSize, Arena mapping)
                throws IOException {
            // No links followed: the file checked by key must be the file mapped, even if someone swaps in a link.
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS)) {
                return channel.map(FileChannel.MapMode.READ_WRITE, offset, byteSize, mapping);
            } catch (AccessDeniedException e) {
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                    return channel.map(FileChannel.MapMode.READ_ONLY, offset, byteSize, mapping).asReadOnly();
                }
            }
        }

        RegionInfo info() {
            return new RegionInfo(name, key, offset, byteSize);
        }

        void retain() {
            references.incrementAndGet();
        }

        void release() {
            if (references.decrementAndGet() == 0) {
                mapping.close();
            }
        }
    }
}
