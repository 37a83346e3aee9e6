/*
 * fovea_torch.h: Fovea's C API over libtorch.
 *
 * This is the whole native surface the Java side sees; its bindings are generated from this file by jextract
 * (native-bindings/regenerate-bindings.sh). Plain C only: opaque handles, C scalar types, pointers, out-params.
 *
 * Rules that hold for every function below:
 *  - No C++ exception ever leaves a function of this API.
 *  - A function that can fail returns fovea_status. On FOVEA_OK its out-params are set and *error is left untouched.
 *    On failure its out-params are left untouched and, when `error` is not NULL, *error receives a new fovea_error
 *    that the caller owns and frees with fovea_error_free.
 *  - Every object the API creates has exactly one free function: fovea_error_free, fovea_module_free,
 *    fovea_tensor_free, fovea_stream_free, fovea_host_buffer_free. Free functions accept NULL. Freeing an object twice is undefined behaviour: the Java layer
 *    guarantees exactly once.
 *  - Handles are not reference counted across the boundary: a handle passed to a function stays owned by the caller.
 */
#ifndef FOVEA_TORCH_H
#define FOVEA_TORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------------- */
/* Status and errors                                                                                                 */

typedef enum fovea_status {
    FOVEA_OK = 0,
    /* A bad argument to this API: NULL handle, unknown dtype or device, shape that does not fit, ... */
    FOVEA_ERROR_INVALID_ARGUMENT = 1,
    /* libtorch refused the operation: TorchScript failed to load or raised, shapes did not match, ... */
    FOVEA_ERROR_TORCH = 2,
    /* Host or device memory ran out: libtorch's c10::OutOfMemoryError (the CUDA caching allocator's "CUDA out of
     * memory"), its CPU allocator's failure (a plain c10::Error saying "DefaultCPUAllocator: ..."), std::bad_alloc.
     * The object the call was made on stays usable: a later, smaller call may succeed. */
    FOVEA_ERROR_OUT_OF_MEMORY = 3,
    /* The model's output is not a tensor or a (nested) tuple/list of tensors, or more than the caller can take. */
    FOVEA_ERROR_UNSUPPORTED_OUTPUT = 4,
    /* Anything else that was thrown (a non-libtorch C++ exception). */
    FOVEA_ERROR_INTERNAL = 5
} fovea_status;

/* An error: a status and a message (libtorch's own text where libtorch failed). Owned by whoever received it. */
typedef struct fovea_error fovea_error;

/* The status this error was returned with. Thread-safe (read-only). */
fovea_status fovea_error_status(const fovea_error *error);

/* The message, NUL-terminated UTF-8. The pointer is owned by `error` and valid until fovea_error_free(error). */
const char *fovea_error_message(const fovea_error *error);

/* Frees an error. NULL is ignored. Call once, from any thread, when no other thread uses `error`. */
void fovea_error_free(fovea_error *error);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Runtime                                                                                                           */

/* libtorch's version, e.g. "1.13.1". Static storage: never freed. Thread-safe. */
const char *fovea_torch_version(void);

/* 1 when libtorch was built with CUDA and a CUDA device is usable, else 0. Thread-safe. */
int32_t fovea_cuda_is_available(void);

/* Number of usable CUDA devices (0 on a CPU-only build or machine). Thread-safe. */
int32_t fovea_cuda_device_count(void);

/*
 * Sets libtorch's intra-op thread count for the whole process (at::set_num_threads; with OpenMP this also sets the
 * OpenMP pool that OpenBLAS uses). num_threads must be >= 1. Call before running models: changing it while forwards
 * run on other threads is allowed by libtorch but takes effect only for work started afterwards.
 */
fovea_status fovea_set_intra_op_threads(int32_t num_threads, fovea_error **error);

/* libtorch's current intra-op thread count. Thread-safe. */
int32_t fovea_intra_op_threads(void);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Devices and data types                                                                                            */

typedef enum fovea_device_type {
    FOVEA_DEVICE_CPU = 0,
    FOVEA_DEVICE_CUDA = 1
} fovea_device_type;

typedef enum fovea_dtype {
    FOVEA_DTYPE_UINT8 = 0,
    FOVEA_DTYPE_INT8 = 1,
    FOVEA_DTYPE_INT32 = 2,
    FOVEA_DTYPE_INT64 = 3,
    FOVEA_DTYPE_FLOAT16 = 4,
    FOVEA_DTYPE_BFLOAT16 = 5,
    FOVEA_DTYPE_FLOAT32 = 6,
    FOVEA_DTYPE_FLOAT64 = 7,
    FOVEA_DTYPE_BOOL = 8,
    /* Reported for a tensor whose type is none of the above (e.g. complex). Never accepted as input. */
    FOVEA_DTYPE_OTHER = 99
} fovea_dtype;

/* ---------------------------------------------------------------------------------------------------------------- */
/* Tensors                                                                                                           */

/*
 * A tensor handle. Either a view of caller memory (fovea_tensor_from_blob) or a tensor that owns its storage (a
 * model output, the result of fovea_tensor_to_device). Owned by the caller that received it; freed with
 * fovea_tensor_free.
 *
 * Thread-safety: the read-only functions (shape, dtype, device, host_data) may be called from several threads at
 * once. A tensor may be used as a model input by several concurrent forwards. fovea_tensor_free must not race with
 * any other use of the same handle.
 */
typedef struct fovea_tensor fovea_tensor;

/*
 * Creates a tensor that views `data` without copying: `rank` dimensions of sizes `shape[0..rank)`, contiguous,
 * row-major, element type `dtype`, on the CPU.
 *
 * Ownership: `data` stays owned by the caller, who keeps it alive and unchanged-by-free until the returned tensor is
 * freed AND every call that received the tensor has returned; libtorch never frees it. `shape` is copied and may be
 * freed when this returns. rank may be 0 (a scalar); every size must be >= 0 and the byte size must fit in int64;
 * `data` may be NULL only when the tensor has no elements, and must be aligned for `dtype`.
 */
fovea_status fovea_tensor_from_blob(void *data, const int64_t *shape, size_t rank, fovea_dtype dtype,
                                    fovea_tensor **out, fovea_error **error);

/*
 * Copies `tensor` to a device (device_index is ignored for the CPU; -1 means the current CUDA device). The result
 * is contiguous and owns its storage; the caller frees it. If `tensor` already is on that device a contiguous copy is
 * still made, so the result never aliases caller memory.
 */
fovea_status fovea_tensor_to_device(const fovea_tensor *tensor, fovea_device_type device_type, int32_t device_index,
                                    fovea_tensor **out, fovea_error **error);

/* Number of dimensions. Thread-safe. */
size_t fovea_tensor_rank(const fovea_tensor *tensor);

/*
 * The sizes of all dimensions, `fovea_tensor_rank` of them. The array is owned by the tensor and valid until it is
 * freed. Thread-safe.
 */
const int64_t *fovea_tensor_shape(const fovea_tensor *tensor);

/* The element type, FOVEA_DTYPE_OTHER for a type this API does not name. Thread-safe. */
fovea_dtype fovea_tensor_dtype(const fovea_tensor *tensor);

/* The device the tensor lives on. Both out-params are required. Thread-safe. */
void fovea_tensor_device(const fovea_tensor *tensor, fovea_device_type *device_type, int32_t *device_index);

/*
 * The tensor's data on the host: a pointer to its first element and its size in bytes. Fails with
 * FOVEA_ERROR_INVALID_ARGUMENT when the tensor is not on the CPU or is not contiguous (model outputs and
 * fovea_tensor_to_device results always are). The memory is owned by the tensor and valid until it is freed; for a
 * from_blob tensor it is the caller's own memory. Thread-safe.
 */
fovea_status fovea_tensor_host_data(const fovea_tensor *tensor, void **data, size_t *byte_size, fovea_error **error);

/* Frees a tensor handle (for a view, the caller's memory is untouched). NULL is ignored. */
void fovea_tensor_free(fovea_tensor *tensor);

/* ---------------------------------------------------------------------------------------------------------------- */
/* TorchScript modules                                                                                               */

/*
 * A loaded TorchScript module, in eval mode, on one device.
 *
 * Thread-safety: fovea_module_forward may be called from several threads at once on the same module (TorchScript
 * methods are safe for concurrent inference). fovea_module_free must not race with any other use of the handle.
 */
typedef struct fovea_module fovea_module;

/*
 * Loads the TorchScript file at `path` (NUL-terminated UTF-8) onto a device and puts it in eval mode. The caller owns
 * the returned module and frees it with fovea_module_free. `path` may be freed when this returns.
 */
fovea_status fovea_module_load(const char *path, fovea_device_type device_type, int32_t device_index,
                               fovea_module **out, fovea_error **error);

/* The device the module was loaded onto. Both out-params are required. Thread-safe. */
void fovea_module_device(const fovea_module *module, fovea_device_type *device_type, int32_t *device_index);

/*
 * Runs the module's forward method on `num_inputs` tensors, with autograd off (inference mode).
 *
 * The output must be a tensor, or a tuple or list of tensors (nested ones are flattened depth-first, in order); any
 * other output is FOVEA_ERROR_UNSUPPORTED_OUTPUT. On success `outputs[0..*num_outputs)` receive new contiguous tensors
 * that the caller owns and frees. When the model returns more tensors than `output_capacity`, the call fails with
 * FOVEA_ERROR_UNSUPPORTED_OUTPUT, frees what it computed and names the count in the message.
 *
 * Ownership: `inputs` and the tensors in it stay owned by the caller and must stay alive (with any memory they view)
 * until this returns; the module keeps no reference to them afterwards. Blocks the calling thread for the whole
 * computation.
 */
fovea_status fovea_module_forward(fovea_module *module, fovea_tensor *const *inputs, size_t num_inputs,
                                  fovea_tensor **outputs, size_t output_capacity, size_t *num_outputs,
                                  fovea_error **error);

/* Frees a module. NULL is ignored. */
void fovea_module_free(fovea_module *module);

/*
 * Converts a loaded module to the precision and memory layout it runs in, once, before its first forward:
 *  - precision (FOVEA_DTYPE_FLOAT32, FLOAT16 or BFLOAT16): every floating-point parameter and buffer is cast to it,
 *    and from then on fovea_module_forward casts every floating-point input to it on the module's device (integer
 *    and bool inputs are left alone). Outputs come back in whatever type the model computes (the precision, for
 *    most models): callers that want float32 convert them (fovea_softmax_topk does for classifiers).
 *  - channels_last != 0: every 4-D parameter (convolution weights) is made channels-last (NHWC) in memory, and
 *    fovea_module_forward makes every 4-D input channels-last on the device. Results are the same within rounding.
 * FLOAT32 with channels_last 0 leaves the module as loaded. Whether libtorch has kernels for the combination on the
 * module's device (e.g. FLOAT16 convolutions on the CPU) shows only when a forward runs: run one before serving.
 * Failure: FOVEA_ERROR_INVALID_ARGUMENT for another precision; the module is then unchanged.
 * Thread-safety: none. Call before any forward on this module, from one thread.
 */
fovea_status fovea_module_convert(fovea_module *module, fovea_dtype precision, int32_t channels_last,
                                  fovea_error **error);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Streams, host staging buffers and asynchronous copies                                                             */

/*
 * A stream of work on one device: a CUDA stream from libtorch's pool, or, for the CPU, a stream that does nothing
 * (every function below accepts it and returns at once), so callers run the same code on either device.
 *
 * Thread-safety: every function may be called from several threads at once; fovea_stream_free must not race with
 * any other use of the handle. The pool's CUDA streams are never destroyed, so a stream a thread made current stays
 * valid for that thread after fovea_stream_free.
 */
typedef struct fovea_stream fovea_stream;

/*
 * A stream on a device (device_index as for fovea_tensor_to_device). The caller owns it and frees it with
 * fovea_stream_free. Failure: FOVEA_ERROR_TORCH when the device is not usable (a CUDA stream on a libtorch without
 * CUDA, a device index past the last device).
 */
fovea_status fovea_stream_create(fovea_device_type device_type, int32_t device_index, fovea_stream **out,
                                 fovea_error **error);

/* 1 for a CUDA stream, 0 for the CPU's stream that does nothing. Thread-safe. */
int32_t fovea_stream_is_device(const fovea_stream *stream);

/*
 * Makes `stream` the calling thread's current stream on its device: every later call on this thread that runs on
 * that device (fovea_preprocess, fovea_module_forward, the copies and fovea_softmax_topk) queues its work on it, until
 * the thread makes another stream current. Each thread that runs a model's work calls this once for itself.
 */
fovea_status fovea_stream_make_current(const fovea_stream *stream, fovea_error **error);

/*
 * Blocks until all work queued on `stream` has finished. A failed asynchronous kernel or copy reports here:
 * FOVEA_ERROR_TORCH with CUDA's message (after some failures, such as an illegal memory access, the device is
 * unusable until the process ends, and every later call on it fails too).
 */
fovea_status fovea_stream_synchronize(const fovea_stream *stream, fovea_error **error);

/* Frees a stream handle. NULL is ignored. */
void fovea_stream_free(fovea_stream *stream);

/*
 * Host memory for staging copies to and from a device, allocated once and reused: page-locked ("pinned", from
 * libtorch's caching host allocator) when `pinned` is nonzero and libtorch has a usable CUDA device, so copies from
 * and into it can run asynchronously; plain host memory otherwise (on a CPU-only libtorch or machine), where the same
 * calls work and copies are synchronous.
 *
 * Thread-safety: the read-only functions may be called from several threads at once; what the bytes hold is the
 * caller's to coordinate. fovea_host_buffer_free must not race with any other use of the handle.
 */
typedef struct fovea_host_buffer fovea_host_buffer;

/*
 * Allocates `byte_size` (>= 1) bytes, aligned to at least 64 bytes, uninitialized. The caller owns the buffer and
 * frees it with fovea_host_buffer_free. Failure: FOVEA_ERROR_OUT_OF_MEMORY when the memory is not available.
 */
fovea_status fovea_host_buffer_alloc(size_t byte_size, int32_t pinned, fovea_host_buffer **out, fovea_error **error);

/* 1 when the buffer is page-locked, 0 for plain host memory. Thread-safe. */
int32_t fovea_host_buffer_is_pinned(const fovea_host_buffer *buffer);

/* The buffer's first byte; valid until fovea_host_buffer_free (and as long as a view of it lives). Thread-safe. */
void *fovea_host_buffer_data(const fovea_host_buffer *buffer);

/* The buffer's size in bytes. Thread-safe. */
size_t fovea_host_buffer_size(const fovea_host_buffer *buffer);

/*
 * A CPU tensor that views bytes [offset, offset + its byte size) of `buffer`: contiguous, row-major, `rank`
 * dimensions of sizes `shape[0..rank)`, element type `dtype`. offset must be a multiple of the element size and the
 * view must fit in the buffer. The view shares the buffer's memory and keeps it allocated until the view is freed
 * too, so freeing the buffer first is safe; writes through either are seen by the other. The caller frees the view
 * with fovea_tensor_free. `shape` is copied.
 */
fovea_status fovea_host_buffer_view(const fovea_host_buffer *buffer, size_t offset, const int64_t *shape, size_t rank,
                                    fovea_dtype dtype, fovea_tensor **out, fovea_error **error);

/* Frees a buffer handle (its memory goes back to the allocator once no view of it lives). NULL is ignored. */
void fovea_host_buffer_free(fovea_host_buffer *buffer);

/*
 * Like fovea_tensor_to_device, but queued on the calling thread's current stream without waiting: from a pinned
 * host buffer's view to a CUDA device the copy is asynchronous, and the result may be used by later work on the same
 * stream at once. The source's memory must stay alive and unchanged until the stream has been synchronized. From
 * plain host memory, or to the CPU, the copy completes before this returns.
 */
fovea_status fovea_tensor_to_device_async(const fovea_tensor *tensor, fovea_device_type device_type,
                                          int32_t device_index, fovea_tensor **out, fovea_error **error);

/*
 * Copies `source` into `destination` (same shape; the element type is converted if they differ), queued on the
 * calling thread's current stream: from a CUDA tensor into a pinned host buffer's view it is asynchronous, and
 * `destination` holds the values only once the stream has been synchronized. Both tensors stay the caller's and must
 * stay alive until then. Failure: FOVEA_ERROR_INVALID_ARGUMENT when the shapes differ.
 */
fovea_status fovea_tensor_copy_async(const fovea_tensor *source, fovea_tensor *destination, fovea_error **error);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Classifier outputs                                                                                                */

/*
 * The k most probable classes of each row of `logits` ([rows, classes], any floating-point type, on any device),
 * computed on the logits' device: a softmax over each row in float32, then the k largest probabilities, largest
 * first. `values` receives a new float32 tensor [rows, k] of probabilities and `indices` a new int64 tensor
 * [rows, k] of class indices, both on the logits' device (queued on the current stream: copy them to the host with
 * fovea_tensor_copy_async, then synchronize). The caller owns and frees both. Among equal probabilities the order is
 * libtorch's. 1 <= k <= classes. `logits` stays the caller's.
 * Failure: FOVEA_ERROR_INVALID_ARGUMENT for another shape or type, or k out of range.
 */
fovea_status fovea_softmax_topk(const fovea_tensor *logits, int32_t k, fovea_tensor **values, fovea_tensor **indices,
                                fovea_error **error);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Images: decoding and preprocessing on the model's device                                                          */

/* Channel layouts of 8-bit pixels, and the channel order a model expects. */
typedef enum fovea_pixel_format {
    FOVEA_PIXEL_RGB = 0,
    FOVEA_PIXEL_BGR = 1,
    FOVEA_PIXEL_GRAY = 2
} fovea_pixel_format;

/*
 * One input image, read in place (never copied on the host, never freed by this API).
 *  - encoded != 0: `data` holds a whole JPEG or PNG file of `byte_size` bytes; the other fields are ignored. It is
 *    decoded as PIL's Image.open(file).convert('RGB') would: JPEG through libjpeg-turbo with its default (accurate)
 *    IDCT and fancy upsampling; PNG through libpng with palettes expanded, 16-bit samples scaled to 8 bits and alpha
 *    dropped, not composited. Grayscale files stay one channel until a three-channel model needs three. libjpeg's
 *    warnings about damaged data are ignored, as PIL does, but a truncated JPEG is refused. Unlike PIL, libpng applies
 *    a gAMA chunk that differs from sRGB's gamma.
 *  - encoded == 0: interleaved 8-bit pixels in `format`, `height` rows `row_stride` bytes apart (0 means
 *    width * channels, where GRAY has 1 channel and RGB and BGR have 3); `byte_size` covers at least
 *    (height - 1) * row_stride + width * channels bytes: the last row may end right after its pixels.
 * Width and height are each at most 16384, and width * height at most 64 Mpx (64 * 2^20 pixels), for raw, decoded
 * and resized images alike.
 */
typedef struct fovea_image {
    const void *data;
    size_t byte_size;
    int32_t encoded;
    uint32_t width;
    uint32_t height;
    uint32_t row_stride;
    fovea_pixel_format format;
} fovea_image;

/*
 * How images become a model's input, torchvision's Resize(resize_shorter_side) -> CenterCrop(crop_height,
 * crop_width) -> ToTensor() -> Normalize(mean, std) on a PIL image:
 *  - resize so the shorter side is resize_shorter_side and the longer one int(resize_shorter_side * long / short)
 *    (0: straight to crop_width x crop_height; skipped when the size already matches); bilinear, antialiased when
 *    shrinking, in PIL's two passes (horizontal, then vertical) each rounded to 8-bit values, so results are within
 *    one level of PIL's;
 *  - center-crop to crop_width x crop_height (offsets rounded half to even; an image smaller than the crop is
 *    padded with zeros);
 *  - scale to [0, 1], then subtract mean[c] and divide by std[c] for each channel c of the model's input.
 * channel_order is what the model takes: RGB or BGR (mean and std in that order), or GRAY (one channel, PIL's
 * convert('L') luminance; only mean[0] and std[0] are used). crop_width and crop_height are 1..16384,
 * resize_shorter_side at most 16384, mean finite and std positive.
 */
typedef struct fovea_preprocess_spec {
    uint32_t resize_shorter_side;
    uint32_t crop_width;
    uint32_t crop_height;
    float mean[3];
    float std[3];
    fovea_pixel_format channel_order;
} fovea_preprocess_spec;

/*
 * Decodes and preprocesses `count` (>= 1) images into one new float32 tensor [count, channels, crop_height,
 * crop_width], contiguous, on the given device (device_index as for fovea_tensor_to_device). Each image crosses to a
 * GPU as 8-bit pixels and is converted, resized, cropped and normalized there. The caller owns the result and frees
 * it with fovea_tensor_free.
 *
 * Ownership: `images`, the memory each image's `data` points to, and `spec` stay the caller's; they are only read
 * during the call, and nothing refers to them once it returns.
 * Failure: FOVEA_ERROR_INVALID_ARGUMENT for a bad spec (the message names the field, e.g. "spec.crop_width 0 ...")
 * or a bad image (the message starts with its index and names the field, e.g. "image 2: row_stride 10 is less than
 * width * channels (12)"; for an undecodable file it carries libjpeg's or libpng's text). Every image is checked
 * before any is decoded. FOVEA_ERROR_OUT_OF_MEMORY when host or device memory runs out; FOVEA_ERROR_TORCH when
 * libtorch fails (e.g. an unavailable device).
 * Thread-safe: calls may run concurrently; each uses its own decoder state. Blocks the calling thread until the
 * result is complete.
 */
fovea_status fovea_preprocess(const fovea_image *images, size_t count, const fovea_preprocess_spec *spec,
                              fovea_device_type device_type, int32_t device_index, fovea_tensor **out,
                              fovea_error **error);

#ifdef __cplusplus
}
#endif

#endif /* FOVEA_TORCH_H */
