package dev.fovea.torch;

import java.util.Objects;

/**
 * Where a tensor or module lives: the CPU, or one CUDA device. Immutable; written and parsed as {@code cpu} and
 * {@code cuda:N}, the way libtorch and model configs name devices.
 */
public record Device(Type type, int index) {

    /** The kinds of device libtorch can run on here. */
    public enum Type {
        CPU,
        CUDA
    }

    /** The host CPU. */
    public static final Device CPU = new Device(Type.CPU, 0);

    public Device {
        Objects.requireNonNull(type, "type");
        if (type == Type.CPU && index != 0) {
            throw new IllegalArgumentException("the CPU device has index 0, not " + index);
        }
        if (index < 0) {
            throw new IllegalArgumentException("device index must not be negative: " + index);
        }
    }

    /** CUDA device number {@code index}, as ordered by the CUDA runtime. */
    public static Device cuda(int index) {
        return new Device(Type.CUDA, index);
    }

    /**
     * Parses {@code cpu}, {@code cuda} (device 0) or {@code cuda:N}.
     *
     * @throws IllegalArgumentException naming the text when it is none of these
     */
    public static Device parse(String text) {
        Objects.requireNonNull(text, "text");
        if (text.equals("cpu")) {
            return CPU;
        }
        if (text.equals("cuda")) {
            return cuda(0);
        }
        if (text.startsWith("cuda:")) {
            try {
                return cuda(Integer.parseInt(text.substring("cuda:".length())));
            } catch (NumberFormatException e) {
                // Falls through to the message below, which names the whole text.
            }
        }
        throw new IllegalArgumentException("not a device: '" + text + "' (expected cpu, cuda or cuda:N)");
    }

    @Override
    public String toString() {
        return type == Type.CPU ? "cpu" : "cuda:" + index;
    }
}
