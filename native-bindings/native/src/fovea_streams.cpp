// Streams, host staging buffers and asynchronous copies (fovea_torch.h). Written against libtorch's device-generic
// c10 API (DeviceGuardImplInterface, c10::Stream) and no CUDA header, so the same source builds against a CPU-only
// libtorch, where asking for CUDA throws a c10::Error that `guarded` reports and the CPU paths run instead.

#include "fovea_torch.h"
#include "internal.h"

#include <torch/cuda.h>
#include <torch/script.h>

#include <c10/core/InferenceMode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using fovea::checked_sizes;
using fovea::guarded;
using fovea::require;
using fovea::to_device;
using fovea::to_scalar_type;

}  // namespace

extern "C" {

fovea_status fovea_stream_create(fovea_device_type device_type, int32_t device_index, fovea_stream **out,
                                 fovea_error **error) {
    return guarded(error, [&] {
        require(out != nullptr, "out must not be NULL");
        c10::Device device = to_device(device_type, device_index);
        auto stream = std::make_unique<fovea_stream>();
        if (device.is_cuda()) {
            // Throws "PyTorch is not linked with support for cuda devices" on a CPU-only libtorch.
            const c10::impl::DeviceGuardImplInterface *cuda = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
            if (!device.has_index()) {
                device = cuda->getDevice();
            }
            require(device.index() < cuda->deviceCount(),
                    "CUDA device " + std::to_string(device.index()) + " does not exist (this machine has " +
                        std::to_string(cuda->deviceCount()) + ")");
            stream->stream = cuda->getStreamFromGlobalPool(device, /*isHighPriority=*/false);
        }
        *out = stream.release();
    });
}

int32_t fovea_stream_is_device(const fovea_stream *stream) {
    return stream != nullptr && stream->stream.has_value() ? 1 : 0;
}

fovea_status fovea_stream_make_current(const fovea_stream *stream, fovea_error **error) {
    return guarded(error, [&] {
        require(stream != nullptr, "stream must not be NULL");
        if (stream->stream) {
            // What c10::StreamGuard does on entry: the stream becomes current for this thread on its device.
            c10::impl::getDeviceGuardImpl(stream->stream->device_type())->exchangeStream(*stream->stream);
        }
    });
}

fovea_status fovea_stream_synchronize(const fovea_stream *stream, fovea_error **error) {
    return guarded(error, [&] {
        require(stream != nullptr, "stream must not be NULL");
        if (stream->stream) {
            stream->stream->synchronize();
        }
    });
}

void fovea_stream_free(fovea_stream *stream) {
    delete stream;
}

fovea_status fovea_host_buffer_alloc(size_t byte_size, int32_t pinned, fovea_host_buffer **out, fovea_error **error) {
    return guarded(error, [&] {
        require(out != nullptr, "out must not be NULL");
        require(byte_size >= 1 && byte_size <= static_cast<size_t>(std::numeric_limits<int64_t>::max()),
                "byte_size must be between 1 and INT64_MAX, got " + std::to_string(byte_size));
        // Page-locked memory needs the CUDA runtime ("Pinned memory requires CUDA" otherwise): degrade to plain memory.
        bool page_locked = pinned != 0 && torch::cuda::is_available();
        at::Tensor bytes = at::empty({static_cast<int64_t>(byte_size)},
                                     at::TensorOptions().dtype(at::kByte).pinned_memory(page_locked));
        *out = new fovea_host_buffer{std::move(bytes), page_locked};
    });
}

int32_t fovea_host_buffer_is_pinned(const fovea_host_buffer *buffer) {
    return buffer->pinned ? 1 : 0;
}

void *fovea_host_buffer_data(const fovea_host_buffer *buffer) {
    return buffer->bytes.data_ptr();
}

size_t fovea_host_buffer_size(const fovea_host_buffer *buffer) {
    return static_cast<size_t>(buffer->bytes.numel());
}

fovea_status fovea_host_buffer_view(const fovea_host_buffer *buffer, size_t offset, const int64_t *shape, size_t rank,
                                    fovea_dtype dtype, fovea_tensor **out, fovea_error **error) {
    return guarded(error, [&] {
        require(buffer != nullptr, "buffer must not be NULL");
        require(out != nullptr, "out must not be NULL");
        c10::ScalarType type = to_scalar_type(dtype);
        int64_t bytes = 0;
        std::vector<int64_t> sizes = checked_sizes(shape, rank, type, &bytes);
        int64_t capacity = buffer->bytes.numel();
        require(offset <= static_cast<size_t>(capacity) && bytes <= capacity - static_cast<int64_t>(offset),
                "a view of " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                    " does not fit in a buffer of " + std::to_string(capacity) + " bytes");
        require(offset % c10::elementSize(type) == 0,
                "offset " + std::to_string(offset) + " is not a multiple of the element size " +
                    std::to_string(c10::elementSize(type)));
        // A view of the buffer's own storage, so libtorch's refcount keeps the memory, and the pinned allocator's
        // bookkeeping for asynchronous copies, with it.
        at::Tensor view = at::empty({0}, buffer->bytes.options().dtype(type))
                              .set_(buffer->bytes.storage(),
                                    static_cast<int64_t>(offset / c10::elementSize(type)), sizes);
        *out = new fovea_tensor{std::move(view)};
    });
}

void fovea_host_buffer_free(fovea_host_buffer *buffer) {
    delete buffer;
}

fovea_status fovea_tensor_to_device_async(const fovea_tensor *tensor, fovea_device_type device_type,
                                          int32_t device_index, fovea_tensor **out, fovea_error **error) {
    return guarded(error, [&] {
        require(tensor != nullptr, "tensor must not be NULL");
        require(out != nullptr, "out must not be NULL");
        c10::Device device = to_device(device_type, device_index);
        c10::InferenceMode inference;
        at::Tensor copy = tensor->tensor.to(torch::TensorOptions().device(device), /*non_blocking=*/true,
                                            /*copy=*/true)
                              .contiguous();
        *out = new fovea_tensor{std::move(copy)};
    });
}

fovea_status fovea_tensor_copy_async(const fovea_tensor *source, fovea_tensor *destination, fovea_error **error) {
    return guarded(error, [&] {
        require(source != nullptr && destination != nullptr, "source and destination must not be NULL");
        require(source->tensor.sizes() == destination->tensor.sizes(),
                "cannot copy a tensor of shape " + c10::str(source->tensor.sizes()) + " into one of shape " +
                    c10::str(destination->tensor.sizes()));
        c10::InferenceMode inference;
        destination->tensor.copy_(source->tensor, /*non_blocking=*/true);
    });
}

}  // extern "C"
