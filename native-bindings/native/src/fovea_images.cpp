// fovea_preprocess: decoding and torchvision-compatible preprocessing, run on the model's device with ATen ops.
//
// Decoders are optional at build time (FOVEA_HAVE_TURBOJPEG, FOVEA_HAVE_PNG): a build without them still serves raw
// pixels and tensors, and says so when handed an encoded image.

#include "fovea_torch.h"
#include "internal.h"

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef FOVEA_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif
#ifdef FOVEA_HAVE_PNG
#include <png.h>
#endif

namespace {

using fovea::ApiError;
using fovea::require;

constexpr int64_t kMaxSide = 16384;
constexpr int64_t kMaxPixels = int64_t{64} << 20;

std::string prefix(size_t index) {
    return "image " + std::to_string(index) + ": ";
}

int64_t channels_of(fovea_pixel_format format) {
    return format == FOVEA_PIXEL_GRAY ? 1 : 3;
}

void require_size(int64_t width, int64_t height, size_t index) {
    require(width >= 1 && height >= 1, prefix(index) + "width and height must be at least 1, got " +
                                           std::to_string(width) + "x" + std::to_string(height));
    require(width <= kMaxSide && height <= kMaxSide && width * height <= kMaxPixels,
            prefix(index) + std::to_string(width) + "x" + std::to_string(height) + " is too large (at most " +
                std::to_string(kMaxSide) + " per side and " + std::to_string(kMaxPixels) + " pixels)");
}

bool starts_with(const fovea_image &image, const unsigned char *magic, size_t length) {
    return image.byte_size >= length && std::memcmp(image.data, magic, length) == 0;
}

// Decoded images own their pixels: an RGB uint8 [height, width, 3] tensor.
at::Tensor decode_jpeg(const fovea_image &image, size_t index) {
#ifdef FOVEA_HAVE_TURBOJPEG
    std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
    require(handle != nullptr, prefix(index) + "could not create a JPEG decoder");
    auto *bytes = static_cast<const unsigned char *>(image.data);
    auto size = static_cast<unsigned long>(image.byte_size);
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle.get(), bytes, size, &width, &height, &subsampling, &colorspace) != 0) {
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT,
                       prefix(index) + "bad JPEG: " + tjGetErrorStr2(handle.get()));
    }
    if (width <= 0 || height <= 0) {
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, prefix(index) + "bad JPEG: no image size in its header");
    }
    require_size(width, height, index);
    at::Tensor pixels = at::empty({height, width, 3}, at::kByte);
    // Default flags: accurate integer IDCT and fancy upsampling, the decoder settings PIL uses.
    if (tjDecompress2(handle.get(), bytes, size, pixels.data_ptr<uint8_t>(), width, 0, height, TJPF_RGB, 0) != 0 &&
        tjGetErrorCode(handle.get()) == TJERR_FATAL) {
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT,
                       prefix(index) + "bad JPEG: " + tjGetErrorStr2(handle.get()));
    }
    return pixels;
#else
    throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT,
                   prefix(index) + "this build of libfovea_torch has no JPEG decoder (libturbojpeg was not found "
                                   "when it was built)");
#endif
}

at::Tensor decode_png(const fovea_image &image, size_t index) {
#ifdef FOVEA_HAVE_PNG
    png_image png;
    std::memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    // The simplified API reports errors through png.message and never longjmps into our frames.
    if (!png_image_begin_read_from_memory(&png, image.data, image.byte_size)) {
        std::string message = png.message;
        png_image_free(&png);
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, prefix(index) + "bad PNG: " + message);
    }
    int64_t width = png.width, height = png.height;
    try {
        require_size(width, height, index);
    } catch (...) {
        png_image_free(&png);
        throw;
    }
    // Read with alpha, then drop it: PIL's convert('RGB') discards alpha rather than compositing it.
    png.format = PNG_FORMAT_RGBA;
    at::Tensor rgba = at::empty({height, width, 4}, at::kByte);
    if (!png_image_finish_read(&png, nullptr, rgba.data_ptr<uint8_t>(), 0, nullptr)) {
        std::string message = png.message;
        png_image_free(&png);
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, prefix(index) + "bad PNG: " + message);
    }
    return rgba.narrow(2, 0, 3);
#else
    throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT,
                   prefix(index) + "this build of libfovea_torch has no PNG decoder (libpng was not found when it "
                                   "was built)");
#endif
}

// The image as uint8 [height, width, channels] on the host, and its pixel format. Raw pixels are a strided view of
// the caller's memory; encoded images are decoded into new memory.
at::Tensor host_pixels(const fovea_image &image, size_t index, fovea_pixel_format *format) {
    require(image.data != nullptr, prefix(index) + "data is NULL");
    if (image.encoded != 0) {
        static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF};
        static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
        *format = FOVEA_PIXEL_RGB;
        if (starts_with(image, jpeg, sizeof jpeg)) {
            return decode_jpeg(image, index);
        }
        if (starts_with(image, png, sizeof png)) {
            return decode_png(image, index);
        }
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, prefix(index) + "not a JPEG or PNG image");
    }
    require(image.format == FOVEA_PIXEL_RGB || image.format == FOVEA_PIXEL_BGR || image.format == FOVEA_PIXEL_GRAY,
            prefix(index) + "unknown pixel format " + std::to_string(image.format));
    int64_t width = image.width, height = image.height, channels = channels_of(image.format);
    require_size(width, height, index);
    int64_t row = width * channels;
    int64_t stride = image.row_stride == 0 ? row : static_cast<int64_t>(image.row_stride);
    require(stride >= row, prefix(index) + "row_stride " + std::to_string(stride) + " is less than width * channels (" +
                               std::to_string(row) + ")");
    int64_t needed = (height - 1) * stride + row;
    require(image.byte_size >= static_cast<size_t>(needed),
            prefix(index) + "data holds " + std::to_string(image.byte_size) + " bytes, needs " +
                std::to_string(needed));
    *format = image.format;
    return torch::from_blob(const_cast<void *>(image.data), {height, width, channels}, {stride, channels, 1},
                            torch::TensorOptions().dtype(at::kByte));
}

// Python's round(): halves go to the even neighbour, which is what torchvision's CenterCrop uses.
int64_t round_half_even(double value) {
    double floor = std::floor(value);
    double fraction = value - floor;
    if (fraction != 0.5) {
        return static_cast<int64_t>(std::llround(value));
    }
    auto lower = static_cast<int64_t>(floor);
    return lower % 2 == 0 ? lower : lower + 1;
}

// uint8 [H, W, C] on any device -> float [C', crop_h, crop_w] normalized, in the model's channel order.
at::Tensor preprocess_one(const at::Tensor &pixels, fovea_pixel_format format, const fovea_preprocess_spec &spec,
                          const at::Tensor &mean, const at::Tensor &stddev) {
    at::Tensor chw = pixels.permute({2, 0, 1}).to(at::kFloat);
    if (format == FOVEA_PIXEL_BGR) {
        chw = chw.flip({0});
    }
    if (spec.channel_order == FOVEA_PIXEL_GRAY && format != FOVEA_PIXEL_GRAY) {
        // PIL's convert('L'): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, exactly, in float arithmetic.
        chw = at::floor((chw[0] * 19595 + chw[1] * 38470 + chw[2] * 7471 + 32768) / 65536).unsqueeze(0);
    } else if (spec.channel_order != FOVEA_PIXEL_GRAY && format == FOVEA_PIXEL_GRAY) {
        chw = chw.expand({3, chw.size(1), chw.size(2)});
    }
    int64_t height = chw.size(1), width = chw.size(2);
    int64_t new_height = spec.crop_height, new_width = spec.crop_width;
    if (spec.resize_shorter_side != 0) {
        int64_t shorter = std::min(height, width), longer = std::max(height, width);
        int64_t new_shorter = spec.resize_shorter_side;
        auto new_longer = static_cast<int64_t>(static_cast<double>(new_shorter) * longer / shorter);
        new_height = height <= width ? new_shorter : new_longer;
        new_width = height <= width ? new_longer : new_shorter;
    }
    if (new_height != height || new_width != width) {
        chw = at::_upsample_bilinear2d_aa(chw.unsqueeze(0).contiguous(), {new_height, new_width}, false)
                  .squeeze(0)
                  .round()
                  .clamp(0, 255);
        height = new_height;
        width = new_width;
    }
    int64_t crop_height = spec.crop_height, crop_width = spec.crop_width;
    if (crop_height > height || crop_width > width) {
        int64_t pad_left = crop_width > width ? (crop_width - width) / 2 : 0;
        int64_t pad_top = crop_height > height ? (crop_height - height) / 2 : 0;
        int64_t pad_right = crop_width > width ? (crop_width - width + 1) / 2 : 0;
        int64_t pad_bottom = crop_height > height ? (crop_height - height + 1) / 2 : 0;
        chw = at::constant_pad_nd(chw, {pad_left, pad_right, pad_top, pad_bottom}, 0);
        height = chw.size(1);
        width = chw.size(2);
    }
    int64_t top = round_half_even((height - crop_height) / 2.0);
    int64_t left = round_half_even((width - crop_width) / 2.0);
    at::Tensor cropped = chw.narrow(1, top, crop_height).narrow(2, left, crop_width);
    // mean and std are given in the model's channel order, so reorder before normalizing.
    if (spec.channel_order == FOVEA_PIXEL_BGR) {
        cropped = cropped.flip({0});
    }
    return (cropped / 255.0f - mean) / stddev;
}

void validate(const fovea_preprocess_spec &spec) {
    require(spec.channel_order == FOVEA_PIXEL_RGB || spec.channel_order == FOVEA_PIXEL_BGR ||
                spec.channel_order == FOVEA_PIXEL_GRAY,
            "spec.channel_order: unknown value " + std::to_string(spec.channel_order));
    require(spec.crop_width >= 1 && spec.crop_height >= 1 && spec.crop_width <= kMaxSide &&
                spec.crop_height <= kMaxSide,
            "spec.crop_width and spec.crop_height must be between 1 and " + std::to_string(kMaxSide));
    require(spec.resize_shorter_side <= kMaxSide,
            "spec.resize_shorter_side must be at most " + std::to_string(kMaxSide));
    for (int64_t c = 0; c < channels_of(spec.channel_order); c++) {
        require(spec.std[c] > 0, "spec.std values must be greater than 0");
    }
}

}  // namespace

extern "C" fovea_status fovea_preprocess(const fovea_image *images, size_t count, const fovea_preprocess_spec *spec,
                                         fovea_device_type device_type, int32_t device_index, fovea_tensor **out,
                                         fovea_error **error) {
    return fovea::guarded(error, [&] {
        require(images != nullptr || count == 0, "images must not be NULL");
        require(count >= 1, "count must be at least 1");
        require(spec != nullptr && out != nullptr, "spec and out must not be NULL");
        validate(*spec);
        c10::Device device = fovea::to_device(device_type, device_index);
        c10::InferenceMode inference;
        int64_t channels = channels_of(spec->channel_order);
        auto options = torch::TensorOptions().dtype(at::kFloat).device(device);
        at::Tensor mean = torch::from_blob(const_cast<float *>(spec->mean), {channels, 1, 1}).to(device);
        at::Tensor stddev = torch::from_blob(const_cast<float *>(spec->std), {channels, 1, 1}).to(device);
        at::Tensor batch = at::empty({static_cast<int64_t>(count), channels, spec->crop_height, spec->crop_width},
                                     options);
        for (size_t i = 0; i < count; i++) {
            fovea_pixel_format format = FOVEA_PIXEL_RGB;
            at::Tensor pixels = host_pixels(images[i], i, &format).to(device);
            batch[static_cast<int64_t>(i)].copy_(preprocess_one(pixels, format, *spec, mean, stddev));
        }
        *out = new fovea_tensor{std::move(batch)};
    });
}
