package dev.fovea.server.sharedmemory;

import static dev.fovea.server.limits.ClientText.quote;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The system shared-memory regions clients have registered (Triton's shared-memory extension): a client on the same
 * host writes frames into a file under {@code /dev/shm}, registers it once, and then sends only references (region,
 * offset, size); the server maps the file and copies each referenced frame out of the mapping into the request's
 * memory (and outputs into it), with no gRPC message in between.
 *
 * <p>Trust: every call names its {@link Caller}, checked against the {@link SharedMemoryAccess} policy (by default
 * only Unix socket peers with the server's uid). A caller whose uid the kernel reports may register only files it
 * owns, and outputs are written only for a caller owning the region's file, so the server never writes where the
 * caller could not. Keys are plain names resolved inside the root folder (no separators, no {@code ..}, no links);
 * every reference is bounds-checked against its region.
 *
 * <p>Safety: the mapping is read and written only by Java copies that check the file's size first and turn a fault
 * into {@link SharedMemoryException.Reason#TRUNCATED} (see {@link Region}), so a client truncating its file gets an
 * error instead of crashing the server. Lifetime: unregistering drops the registry's reference; a copy running at
 * that moment keeps the region mapped until it finishes, and new requests cannot find it.
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
    private final SharedMemoryAccess access;
    /** Guarded by itself; sorted so status lists come out in name order. */
    private final Map<String, Region> regions = new TreeMap<>();

    private SharedMemoryRegistry(Path root, SharedMemoryAccess access) {
        this.root = root;
        this.access = access;
    }

    /** A registry over {@code root} (normally {@link #SYSTEM_ROOT}) for the callers {@code access} lets in. */
    public static SharedMemoryRegistry enabled(Path root, SharedMemoryAccess access) {
        return new SharedMemoryRegistry(Objects.requireNonNull(root, "root"), Objects.requireNonNull(access, "access"));
    }

    /** A registry over {@code root} with the default access: the server's uid over the Unix socket. */
    public static SharedMemoryRegistry enabled(Path root) {
        return enabled(root, SharedMemoryAccess.defaults());
    }

    /** A registry that refuses every call: the default, as shared memory lets clients name server-side files. */
    public static SharedMemoryRegistry disabled() {
        return new SharedMemoryRegistry(SYSTEM_ROOT, null);
    }

    public boolean isEnabled() {
        return access != null;
    }

    /**
     * Maps {@code byteSize} bytes from {@code offset} of the file {@code key} names under the root, as region
     * {@code name}.
     */
    public void register(Caller caller, String name, String key, long offset, long byteSize) {
        checkAccess(caller);
        if (name == null || name.isEmpty()) {
            throw invalid("name is empty");
        }
        if (key == null || !KEY.matcher(key).matches()) {
            throw invalid("key " + quote(key) + " is not a shared-memory name such as /fovea_frames (letters, "
                    + "digits, '_', '-', '.'; one optional leading '/')");
        }
        if (offset < 0 || byteSize <= 0 || offset > Long.MAX_VALUE - byteSize) {
            throw invalid("offset " + offset + " and byte_size " + byteSize + " must be >= 0 and > 0");
        }
        synchronized (regions) {
            if (regions.containsKey(name)) {
                throw new SharedMemoryException(SharedMemoryException.Reason.ALREADY_EXISTS,
                        "a shared-memory region named " + quote(name) + " is already registered");
            }
            regions.put(name, Region.map(name, key, file(key), offset, byteSize, caller));
        }
    }

    /**
     * Drops a region; a copy from it running now finishes first. Unknown names are ignored; the empty name drops
     * every region (as Triton does).
     */
    public void unregister(Caller caller, String name) {
        checkAccess(caller);
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
    public List<RegionInfo> status(Caller caller, String name) {
        checkAccess(caller);
        synchronized (regions) {
            if (name.isEmpty()) {
                return regions.values().stream().map(Region::info).toList();
            }
            return List.of(Optional.ofNullable(regions.get(name)).orElseThrow(() -> notFound(name, "")).info());
        }
    }

    /**
     * A copy of {@code byteSize} bytes at {@code offset} in region {@code name}, allocated in {@code into} (the
     * request's memory, which owns it).
     *
     * @param field the request field that named the region, for error messages
     * @throws SharedMemoryException TRUNCATED if the region's file no longer holds those bytes
     */
    public MemorySegment read(Caller caller, String name, long offset, long byteSize, Arena into, String field) {
        Region region = lease(caller, name, offset, byteSize, field);
        try {
            MemorySegment copy = into.allocate(byteSize, 16);
            region.read(offset, byteSize, copy, field);
            return copy;
        } finally {
            region.release();
        }
    }

    /**
     * Writes {@code sources}, one after another, into region {@code name} from {@code offset}, for outputs a client
     * asked to receive there. Only a caller owning the region's file may: the server writes nowhere its caller could
     * not.
     *
     * @throws SharedMemoryException TRUNCATED as {@link #read}; PERMISSION_DENIED for a caller not owning the file
     */
    public void write(Caller caller, String name, long offset, List<MemorySegment> sources, String field) {
        long length = sources.stream().mapToLong(MemorySegment::byteSize).sum();
        Region region = lease(caller, name, offset, length, field);
        try {
            if (!caller.uidKnown() || caller.uid() != region.fileOwner) {
                throw SharedMemoryAccess.denied(field + ": region " + quote(name) + "'s file belongs to uid "
                        + region.fileOwner + "; outputs are written only for a caller with that uid over the Unix "
                        + "socket, and this is a " + caller.describe());
            }
            region.write(offset, sources, length, field);
        } finally {
            region.release();
        }
    }

    private Region lease(Caller caller, String name, long offset, long byteSize, String field) {
        checkAccess(caller);
        synchronized (regions) {
            Region region = regions.get(name);
            if (region == null) {
                throw notFound(name, field + ": ");
            }
            if (offset < 0 || byteSize < 0 || offset > region.byteSize - byteSize) {
                throw invalid(field + ": offset " + offset + " + " + byteSize + " bytes lies outside region "
                        + quote(name) + " (" + region.byteSize + " bytes)");
            }
            region.retain();
            return region;
        }
    }

    private Path file(String key) {
        String fileName = key.startsWith("/") ? key.substring(1) : key;
        if (fileName.equals(".") || fileName.equals("..")) {
            throw invalid("key " + quote(key) + " does not name a file");
        }
        try {
            Path rootReal = root.toRealPath();
            Path file = rootReal.resolve(fileName).toRealPath();
            if (!file.getParent().equals(rootReal) || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                throw invalid("key " + quote(key) + " must name a regular file directly in " + root);
            }
            return file;
        } catch (NoSuchFileException e) {
            throw invalid("key " + quote(key) + ": no such file in " + root);
        } catch (IOException e) {
            throw invalid("key " + quote(key) + ": " + quote(e.getMessage()));
        }
    }

    private void checkAccess(Caller caller) {
        if (access == null) {
            throw new SharedMemoryException(SharedMemoryException.Reason.DISABLED,
                    "shared memory is off; start the server with --allow-shared-memory to use it");
        }
        access.check(caller);
    }

    private static SharedMemoryException invalid(String message) {
        return new SharedMemoryException(SharedMemoryException.Reason.INVALID, message);
    }

    private static SharedMemoryException notFound(String name, String prefix) {
        return new SharedMemoryException(SharedMemoryException.Reason.NOT_FOUND,
                prefix + "no shared-memory region named " + quote(name) + " is registered");
    }

    @Override
    public void close() {
        releaseAll();
    }
}
