package dev.fovea.torch;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Properties;

/** The TorchScript models and reference tensors written by src/test/python/make_fixtures.py. */
final class Fixtures {

    private static final Properties MANIFEST = loadManifest();

    private Fixtures() {}

    static Path path(String name) {
        URL url = Fixtures.class.getResource("/fixtures/" + name);
        if (url == null) {
            throw new IllegalArgumentException("no fixture " + name);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static long[] shape(String name) {
        String shape = MANIFEST.getProperty(name + ".shape");
        if (shape == null) {
            throw new IllegalArgumentException("fixtures.properties has no shape for " + name);
        }
        return Arrays.stream(shape.split(",")).mapToLong(Long::parseLong).toArray();
    }

    /** A float32 fixture copied into native memory of {@code arena}. */
    static MemorySegment loadFloats(String name, Arena arena) {
        byte[] bytes = bytes(name);
        return arena.allocate(bytes.length, JAVA_FLOAT.byteAlignment()).copyFrom(MemorySegment.ofArray(bytes));
    }

    /** A fixture's bytes. */
    static byte[] bytes(String name) {
        try {
            return Files.readAllBytes(path(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fixture's bytes copied into native memory of {@code arena}. */
    static MemorySegment loadBytes(String name, Arena arena) {
        byte[] bytes = bytes(name);
        return arena.allocate(bytes.length).copyFrom(MemorySegment.ofArray(bytes));
    }

    /** A float32 fixture as a Java array. */
    static float[] floats(String name) {
        return MemorySegment.ofArray(bytes(name)).toArray(JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    private static Properties loadManifest() {
        try (InputStream in = Fixtures.class.getResourceAsStream("/fixtures/fixtures.properties")) {
            Properties properties = new Properties();
            properties.load(in);
            return properties;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
