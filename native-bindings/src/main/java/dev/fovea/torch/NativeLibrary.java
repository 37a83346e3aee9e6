package dev.fovea.torch;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Loads libfovea_torch.so into this class loader, once, before any generated binding is called: the bindings find
 * their symbols through {@code SymbolLookup.loaderLookup()}, so the library must be loaded by this class loader.
 *
 * <p>Where it comes from, first match wins: the system property {@code fovea.native.library} (a path); else the copy
 * Maven's native build put on the class path ({@value #RESOURCE}), loaded in place from a build folder or extracted
 * from the jar to a temporary file. The library links libtorch by the absolute path it was built against (or the
 * system's library path for Debian's libtorch), so nothing else needs to be set.
 */
final class NativeLibrary {

    static final String PATH_PROPERTY = "fovea.native.library";
    private static final String RESOURCE = "META-INF/native/linux-x86_64/libfovea_torch.so";

    private NativeLibrary() {}

    /** Loads the library if it is not loaded yet. Thread-safe; cheap after the first call. */
    static void ensureLoaded() {
        Holder.touch();
    }

    private static final class Holder {
        static {
            System.load(locate().toString());
        }

        static void touch() {}
    }

    private static Path locate() {
        String explicit = System.getProperty(PATH_PROPERTY);
        if (explicit != null) {
            Path path = Path.of(explicit).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                throw new UnsatisfiedLinkError("-D" + PATH_PROPERTY + "=" + explicit + " is not a file");
            }
            return path;
        }
        if (!System.getProperty("os.name").equals("Linux") || !System.getProperty("os.arch").equals("amd64")) {
            throw new UnsatisfiedLinkError("Fovea's native library is built for linux-x86_64 only, not "
                    + System.getProperty("os.name") + "/" + System.getProperty("os.arch"));
        }
        URL resource = NativeLibrary.class.getClassLoader().getResource(RESOURCE);
        if (resource == null) {
            throw new UnsatisfiedLinkError(RESOURCE + " is not on the class path: build native-bindings with Maven "
                    + "(it runs native/build.sh) or point -D" + PATH_PROPERTY + " at libfovea_torch.so");
        }
        try {
            if (resource.getProtocol().equals("file")) {
                return Path.of(resource.toURI());
            }
            return extract(resource);
        } catch (URISyntaxException e) {
            throw new IllegalStateException("bad class path entry " + resource, e);
        } catch (IOException e) {
            throw new UncheckedIOException("could not extract " + resource, e);
        }
    }

    private static Path extract(URL resource) throws IOException {
        Path file = Files.createTempFile("libfovea_torch", ".so");
        file.toFile().deleteOnExit();
        try (InputStream in = resource.openStream()) {
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }
}
