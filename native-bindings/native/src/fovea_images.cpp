// fovea_preprocess: decoding and torchvision-compatible preprocessing, run on the model's device with ATen ops.
//
// The reference is torchvision's Resize(S) -> CenterCrop(h, w) -> ToTensor() -> Normalize(mean, std) applied to
// PIL's Image.open(file).convert('RGB'). Decoders are optional at build time (FOVEA_HAVE_TURBOJPEG, FOVEA_HAVE_PNG):
// a build without them still serves raw pixels and tensors, and says so when handed an encoded image.

#include "fovea_torch.h"
#include "internal.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#ifdef FOVEA_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif
#ifdef FOVEA_HAVE_PNG
#include <png.h>
#endif

namespace {

using fovea::ApiError;

// Bounds every image this code allocates for, given or decoded or resized, so a small request cannot claim gigabytes.
constexpr int64_t kMaxSide = 16384;
constexpr int64_t kMaxPixels = int64_t{64} << 20;

[[noreturn]] void invalid(const std::string &message) {
    throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, message);
}

std::string prefix(size_t index) {
    return "image " + std::to_string(index) + ": ";
}

std::string dimensions(int64_t width, int64_t height) {
    return std::to_string(width) + "x" + std::to_string(height);
}

void require_within_limits(int64_t width, int64_t height, const std::string &what) {
    if (width > kMaxSide || height > kMaxSide || width * height > kMaxPixels) {
        invalid(what + " is over the size limit (at most " + std::to_string(kMaxSide) + " pixels per side and " +
                std::to_string(kMaxPixels >> 20) + " Mpx in all)");
    }
}

bool known_format(fovea_pixel_format format) {
    return format == FOVEA_PIXEL_RGB || format == FOVEA_PIXEL_BGR || format == FOVEA_PIXEL_GRAY;
}

int64_t channels_of(fovea_pixel_format format) {
    return format == FOVEA_PIXEL_GRAY ? 1 : 3;
}

// 8-bit pixels on the host, [height, width, channels]: a view of the caller's memory or a decoded buffer.
struct HostImage {
    at::Tensor pixels;
    fovea_pixel_format format;
};

const unsigned char kJpegSignature[] = {0xFF, 0xD8, 0xFF};
const unsigned char kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool starts_with(const fovea_image &image, const unsigned char *signature, size_t length) {
    return image.byte_size >= length && std::memcmp(image.data, signature, length) == 0;
}

HostImage decode_jpeg(const fovea_image &image, size_t index) {
#ifdef FOVEA_HAVE_TURBOJPEG
    std::unique_ptr<void, int (*)(tjhandle)> decoder(tjInitDecompress(), tjDestroy);
    if (decoder == nullptr) {
        throw ApiError(FOVEA_ERROR_INTERNAL, prefix(index) + "could not create a JPEG decoder: " +
                                                 tjGetErrorStr2(nullptr));
    }
    const auto *bytes = static_cast<const unsigned char *>(image.data);
    auto size = static_cast<unsigned long>(image.byte_size);
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    // A file cut short before its frame header "succeeds" with a warning and no size: refuse that too.
    if (tjDecompressHeader3(decoder.get(), bytes, size, &width, &height, &subsampling, &colorspace) != 0 ||
        width < 1 || height < 1) {
        invalid(prefix(index) + "JPEG: " + tjGetErrorStr2(decoder.get()));
    }
    require_within_limits(width, height, prefix(index) + "JPEG of " + dimensions(width, height));
    // PIL opens a grayscale JPEG as 'L' and convert('RGB') copies it into three channels: decode the one channel and
    // copy it only if the model takes three.
    bool gray = colorspace == TJCS_GRAY;
    at::Tensor pixels = at::empty({height, width, gray ? 1 : 3}, at::kByte);
    // No accuracy flags: the accurate integer IDCT and fancy upsampling are the defaults, PIL's settings too.
    // LIMITSCANS refuses progressive files of more than 500 scans, which can take minutes to decode.
    if (tjDecompress2(decoder.get(), bytes, size, pixels.data_ptr<uint8_t>(), width, 0, height,
                      gray ? TJPF_GRAY : TJPF_RGB, TJFLAG_LIMITSCANS) != 0) {
        // libjpeg only warns about damaged data and decodes what it can; PIL ignores those warnings too, except for a
        // truncated file ("image file is truncated"). libjpeg's text for that warning (JWRN_JPEG_EOF) is fixed.
        const char *message = tjGetErrorStr2(decoder.get());
        if (tjGetErrorCode(decoder.get()) == TJERR_FATAL || std::strcmp(message, "Premature end of JPEG file") == 0) {
            invalid(prefix(index) + "JPEG: " + message);
        }
    }
    return {pixels, gray ? FOVEA_PIXEL_GRAY : FOVEA_PIXEL_RGB};
#else
    invalid(prefix(index) +
            "this build of libfovea_torch has no JPEG decoder (libturbojpeg was not found at build time)");
#endif
}

#ifdef FOVEA_HAVE_PNG
// Frees libpng's state on every way out; png_image_free is a no-op on an image a failed call already freed.
struct PngReader {
    png_image image;
    PngReader() {
        std::memset(&image, 0, sizeof image);
        image.version = PNG_IMAGE_VERSION;
    }
    ~PngReader() { png_image_free(&image); }
    PngReader(const PngReader &) = delete;
    PngReader &operator=(const PngReader &) = delete;
};
#endif

HostImage decode_png(const fovea_image &image, size_t index) {
#ifdef FOVEA_HAVE_PNG
    PngReader png;
    // The simplified API catches libpng's longjmp itself and reports the failure in png.image.message.
    if (png_image_begin_read_from_memory(&png.image, image.data, image.byte_size) == 0) {
        invalid(prefix(index) + "PNG: " + png.image.message);
    }
    int64_t width = png.image.width, height = png.image.height;
    require_within_limits(width, height, prefix(index) + "PNG of " + dimensions(width, height));
    // What PIL's convert('RGB') gives: palettes expanded, gray kept as one channel (copied into three later only if
    // the model takes three), alpha dropped rather than composited, so it is read along and then left out.
    bool gray = (png.image.format & PNG_FORMAT_FLAG_COLOR) == 0;
    bool alpha = (png.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    png.image.format = (gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    // 16-bit samples are sRGB-encoded, as PIL reads them (it keeps their high byte), not linear light, which libpng
    // would otherwise assume and gamma-encode.
    png.image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    int64_t channels = PNG_IMAGE_SAMPLE_CHANNELS(png.image.format);
    at::Tensor pixels = at::empty({height, width, channels}, at::kByte);
    if (png_image_finish_read(&png.image, nullptr, pixels.data_ptr<uint8_t>(), 0, nullptr) == 0) {
        invalid(prefix(index) + "PNG: " + png.image.message);
    }
    return {alpha ? pixels.narrow(2, 0, channels - 1) : pixels, gray ? FOVEA_PIXEL_GRAY : FOVEA_PIXEL_RGB};
#else
    invalid(prefix(index) + "this build of libfovea_torch has no PNG decoder (libpng was not found at build time)");
#endif
}

// Everything about one image that needs no decoding, checked for the whole batch before any work starts.
void check_image(const fovea_image &image, size_t index) {
    if (image.data == nullptr) {
        invalid(prefix(index) + "data is NULL");
    }
    if (image.encoded != 0) {
        if (!starts_with(image, kJpegSignature, sizeof kJpegSignature) &&
            !starts_with(image, kPngSignature, sizeof kPngSignature)) {
            invalid(prefix(index) + "not a JPEG or PNG image");
        }
        return;
    }
    if (!known_format(image.format)) {
        invalid(prefix(index) + "format " + std::to_string(image.format) + " is not RGB, BGR or GRAY");
    }
    int64_t width = image.width, height = image.height;
    if (width == 0 || height == 0) {
        invalid(prefix(index) + (width == 0 ? "width 0" : "height 0"));
    }
    require_within_limits(width, height, prefix(index) + dimensions(width, height));
    int64_t row = width * channels_of(image.format);
    int64_t stride = image.row_stride == 0 ? row : static_cast<int64_t>(image.row_stride);
    if (stride < row) {
        invalid(prefix(index) + "row_stride " + std::to_string(stride) + " is less than width * channels (" +
                std::to_string(row) + ")");
    }
    int64_t needed = (height - 1) * stride + row;
    if (image.byte_size < static_cast<uint64_t>(needed)) {
        std::string layout = stride == row ? "height " + std::to_string(height) + " x row_stride " +
                                                 std::to_string(stride)
                                           : "(height " + std::to_string(height) + " - 1) x row_stride " +
                                                 std::to_string(stride) + " + width * channels " +
                                                 std::to_string(row);
        invalid(prefix(index) + "data holds " + std::to_string(image.byte_size) + " bytes, needs " +
                std::to_string(needed) + " (" + layout + ")");
    }
}

// A checked image on the host: decoded into new memory, or raw pixels viewed in place with their row stride.
HostImage host_image(const fovea_image &image, size_t index) {
    if (image.encoded != 0) {
        return starts_with(image, kJpegSignature, sizeof kJpegSignature) ? decode_jpeg(image, index)
                                                                          : decode_png(image, index);
    }
    int64_t width = image.width, height = image.height, channels = channels_of(image.format);
    int64_t stride = image.row_stride == 0 ? width * channels : static_cast<int64_t>(image.row_stride);
    // No deleter: the caller's memory is only read, during this call.
    at::Tensor view = at::from_blob(const_cast<void *>(image.data), {height, width, channels}, {stride, channels, 1},
                                    at::TensorOptions().dtype(at::kByte));
    return {view, image.format};
}

void check_spec(const fovea_preprocess_spec &spec) {
    if (!known_format(spec.channel_order)) {
        invalid("spec.channel_order " + std::to_string(spec.channel_order) + " is not RGB, BGR or GRAY");
    }
    for (auto [name, value] : {std::make_pair("crop_width", spec.crop_width),
                               std::make_pair("crop_height", spec.crop_height)}) {
        if (value == 0 || value > kMaxSide) {
            invalid(std::string("spec.") + name + " " + std::to_string(value) + " is not between 1 and " +
                    std::to_string(kMaxSide));
        }
    }
    require_within_limits(spec.crop_width, spec.crop_height, "spec: the crop of " +
                                                                 dimensions(spec.crop_width, spec.crop_height));
    if (spec.resize_shorter_side > kMaxSide) {
        invalid("spec.resize_shorter_side " + std::to_string(spec.resize_shorter_side) + " is over " +
                std::to_string(kMaxSide));
    }
    for (int64_t c = 0; c < channels_of(spec.channel_order); c++) {
        if (!std::isfinite(spec.mean[c])) {
            invalid("spec.mean[" + std::to_string(c) + "] is not a finite number");
        }
        if (!(std::isfinite(spec.std[c]) && spec.std[c] > 0)) {
            invalid("spec.std[" + std::to_string(c) + "] is not a positive number");
        }
    }
}

// Python's round(d / 2) for d >= 0, halves to even: torchvision's CenterCrop offset.
int64_t half_rounded_to_even(int64_t d) {
    int64_t half = d / 2;
    return d % 2 == 0 || half % 2 == 0 ? half : half + 1;
}

// Where a center crop of `crop` out of `size` reads and writes along one axis. A crop larger than the image pads it
// with zeros, (crop - size) / 2 of them before, as torchvision's CenterCrop does.
struct CropSpan {
    int64_t from;
    int64_t to;
    int64_t length;
};

CropSpan center_crop(int64_t size, int64_t crop) {
    if (crop > size) {
        return {0, (crop - size) / 2, size};
    }
    return {half_rounded_to_even(size - crop), 0, crop};
}

// One pass of PIL's bilinear resize: antialiased when shrinking (the filter widens with the scale), plain bilinear
// when growing, rounded to the 8-bit values PIL stores. `image` is contiguous float [channels, h, w], as the CPU
// kernel needs.
at::Tensor resize_pass(const at::Tensor &image, int64_t height, int64_t width) {
    int64_t size[] = {height, width};
    at::Tensor resized = at::_upsample_bilinear2d_aa(image.unsqueeze(0), size, /*align_corners=*/false).squeeze(0);
    return resized.round_().clamp_(0, 255);
}

// Writes one image into `out` ([channels, crop_height, crop_width] float on the device) as 0..255 values: decoding,
// normalization and the batch's allocation are the caller's.
void resize_and_crop(const HostImage &host, const fovea_preprocess_spec &spec, const c10::Device &device,
                     size_t index, at::Tensor out) {
    // Only 8-bit pixels cross to a GPU; packing them first keeps row padding and dropped alpha off the bus. They are
    // packed into page-locked memory from libtorch's caching host allocator (blocks are reused once the copies that
    // read them have completed, not allocated per picture), so the copy runs asynchronously on the current stream.
    at::Tensor pixels = host.pixels;
    if (!device.is_cpu()) {
        at::Tensor staged = at::empty(host.pixels.sizes(), host.pixels.options().pinned_memory(true));
        staged.copy_(host.pixels);
        pixels = staged.to(device, /*non_blocking=*/true);
    }
    int64_t height = pixels.size(0), width = pixels.size(1), channels = pixels.size(2);
    at::Tensor image = at::empty({channels, height, width}, at::TensorOptions().dtype(at::kFloat).device(device));
    image.copy_(pixels.permute({2, 0, 1}));

    bool to_gray = spec.channel_order == FOVEA_PIXEL_GRAY && channels == 3;
    if (to_gray) {
        // PIL's convert('L'), exactly: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16. Every intermediate is an
        // integer below 2^24, so float arithmetic is exact.
        int64_t r = host.format == FOVEA_PIXEL_BGR ? 2 : 0;
        image = at::floor((image[r] * 19595 + image[1] * 38470 + image[2 - r] * 7471 + 32768) / 65536).unsqueeze(0);
        channels = 1;
    }

    int64_t new_height = spec.crop_height, new_width = spec.crop_width;
    if (spec.resize_shorter_side != 0) {
        // torchvision: the shorter side becomes S, the longer int(S * long / short).
        int64_t shorter = std::min(height, width), longer = std::max(height, width);
        int64_t scaled = static_cast<int64_t>(static_cast<double>(spec.resize_shorter_side * longer) / shorter);
        new_height = height <= width ? spec.resize_shorter_side : scaled;
        new_width = height <= width ? scaled : spec.resize_shorter_side;
        require_within_limits(new_width, new_height, prefix(index) + "resized to " +
                                                         dimensions(new_width, new_height) + " by resize_shorter_side");
    }
    // PIL resizes in two passes, horizontal then vertical, each skipped when its side already fits, rounding to 8 bits
    // after each: doing the same leaves about 1 % of values a level off PIL's instead of one in six.
    if (new_width != width) {
        image = resize_pass(image, height, new_width);
        width = new_width;
    }
    if (new_height != height) {
        image = resize_pass(image, new_height, width);
        height = new_height;
    }

    CropSpan rows = center_crop(height, spec.crop_height);
    CropSpan columns = center_crop(width, spec.crop_width);
    at::Tensor region = image.narrow(1, rows.from, rows.length).narrow(2, columns.from, columns.length);
    // Channel order last, on the crop: copying a gray plane or reversing RGB commutes with resizing and cropping.
    if (channels == 1 && out.size(0) == 3) {
        region = region.expand({3, rows.length, columns.length});
    } else if (channels == 3 && host.format != spec.channel_order) {
        region = region.flip({0});
    }
    if (rows.length < spec.crop_height || columns.length < spec.crop_width) {
        out.zero_();
        out = out.narrow(1, rows.to, rows.length).narrow(2, columns.to, columns.length);
    }
    out.copy_(region);
}

}  // namespace

extern "C" fovea_status fovea_preprocess(const fovea_image *images, size_t count, const fovea_preprocess_spec *spec,
                                         fovea_device_type device_type, int32_t device_index, fovea_tensor **out,
                                         fovea_error **error) {
    return fovea::guarded(error, [&] {
        fovea::require(count >= 1, "count must be at least 1");
        fovea::require(images != nullptr, "images must not be NULL");
        fovea::require(spec != nullptr && out != nullptr, "spec and out must not be NULL");
        check_spec(*spec);
        for (size_t i = 0; i < count; i++) {
            check_image(images[i], i);
        }
        c10::Device device = fovea::to_device(device_type, device_index);
        c10::InferenceMode inference;
        int64_t channels = channels_of(spec->channel_order);
        at::Tensor batch = at::empty({static_cast<int64_t>(count), channels, spec->crop_height, spec->crop_width},
                                     at::TensorOptions().dtype(at::kFloat).device(device));
        for (size_t i = 0; i < count; i++) {
            resize_and_crop(host_image(images[i], i), *spec, device, i, batch[static_cast<int64_t>(i)]);
        }
        // ToTensor() and Normalize() as torchvision computes them, in float32, once for the whole batch.
        batch.div_(255);
        for (int64_t c = 0; c < channels; c++) {
            batch.select(1, c).sub_(spec->mean[c]).div_(spec->std[c]);
        }
        *out = new fovea_tensor{std::move(batch)};
    });
}
