package dev.fovea.torch;

import java.util.Arrays;
import java.util.Objects;

/**
 * How pictures become a model's input: torchvision's {@code Resize(resizeShorterSide)} (0: straight to the crop size)
 * then {@code CenterCrop(cropHeight, cropWidth)}, {@code ToTensor()}, {@code Normalize(mean, std)}, in the channel
 * order the model takes. {@code mean} and {@code std} hold one value per channel of {@code channelOrder}, in that
 * order (one for GRAY). Immutable: the arrays are copied in and out.
 *
 * <p>The constructor throws {@link IllegalArgumentException} for a size below 1 (resizeShorterSide below 0), a count of
 * mean or std values that does not fit the channel order, a mean that is not finite, or a std that is not positive.
 * Sizes above the native limits (16384 per side) are refused by {@link Preprocessor#toTensor}.
 */
public record Preprocessing(int resizeShorterSide, int cropWidth, int cropHeight, float[] mean, float[] std,
        PixelFormat channelOrder) {

    public Preprocessing {
        Objects.requireNonNull(mean, "mean");
        Objects.requireNonNull(std, "std");
        Objects.requireNonNull(channelOrder, "channelOrder");
        if (resizeShorterSide < 0 || cropWidth < 1 || cropHeight < 1) {
            throw new IllegalArgumentException("crop sizes must be >= 1 and resizeShorterSide >= 0, got crop "
                    + cropWidth + "x" + cropHeight + " and resizeShorterSide " + resizeShorterSide);
        }
        if (mean.length != channelOrder.channels() || std.length != channelOrder.channels()) {
            throw new IllegalArgumentException("mean and std need " + channelOrder.channels() + " values for "
                    + channelOrder + ", got " + mean.length + " and " + std.length);
        }
        for (float value : mean) {
            if (!Float.isFinite(value)) {
                throw new IllegalArgumentException("mean values must be finite: " + Arrays.toString(mean));
            }
        }
        for (float value : std) {
            if (!(value > 0 && Float.isFinite(value))) {
                throw new IllegalArgumentException("std values must be positive and finite: " + Arrays.toString(std));
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** torchvision's ImageNet recipe: {@code Resize(resize)}, {@code CenterCrop(crop)}, ImageNet mean and std. */
    public static Preprocessing imagenet(int resize, int crop) {
        return new Preprocessing(resize, crop, crop, new float[] {0.485f, 0.456f, 0.406f},
                new float[] {0.229f, 0.224f, 0.225f}, PixelFormat.RGB);
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Preprocessing that && resizeShorterSide == that.resizeShorterSide
                && cropWidth == that.cropWidth && cropHeight == that.cropHeight && Arrays.equals(mean, that.mean)
                && Arrays.equals(std, that.std) && channelOrder == that.channelOrder;
    }

    @Override
    public int hashCode() {
        return Objects.hash(resizeShorterSide, cropWidth, cropHeight, Arrays.hashCode(mean), Arrays.hashCode(std),
                channelOrder);
    }

    @Override
    public String toString() {
        return "Preprocessing[resize " + resizeShorterSide + ", crop " + cropWidth + "x" + cropHeight + ", mean "
                + Arrays.toString(mean) + ", std " + Arrays.toString(std) + ", " + channelOrder + "]";
    }
}
