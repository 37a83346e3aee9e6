// Shared by the C API's translation units: the handle structs behind the opaque types, and the error plumbing that
// keeps C++ exceptions from crossing the boundary. Not part of the public header.
#pragma once

#include "fovea_torch.h"

#include <torch/script.h>

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

struct fovea_error {
    fovea_status status;
    std::string message;
};

struct fovea_tensor {
    at::Tensor tensor;
};

struct fovea_module {
    torch::jit::Module module;
    c10::Device device;
    // Set by fovea_module_convert: floating inputs are cast to `precision`, 4-D ones made channels-last.
    c10::optional<c10::ScalarType> precision = c10::nullopt;
    bool channels_last = false;
};

// A CUDA stream, or none for the CPU (where every stream function does nothing).
struct fovea_stream {
    c10::optional<c10::Stream> stream;
};

// One uint8 tensor owning the bytes, so views share its storage (and keep it alive) through libtorch's refcount.
struct fovea_host_buffer {
    at::Tensor bytes;
    bool pinned;
};

namespace fovea {

// A failure detected by this shim itself, carrying the status to report.
class ApiError : public std::runtime_error {
public:
    ApiError(fovea_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    fovea_status status() const { return status_; }

private:
    fovea_status status_;
};

inline void require(bool condition, const std::string &message) {
    if (!condition) {
        throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, message);
    }
}

inline fovea_status fail(fovea_error **error, fovea_status status, const char *message) noexcept {
    if (error != nullptr) {
        // If even the error object cannot be allocated, the caller still gets the status.
        *error = new (std::nothrow) fovea_error{status, std::string()};
        if (*error != nullptr) {
            try {
                (*error)->message = message;
            } catch (...) {
            }
        }
    }
    return status;
}

// libtorch's CPU allocator reports a failed allocation as a plain c10::Error (an enforce in alloc_cpu.cpp, in 1.13
// and 2.x alike), never as c10::OutOfMemoryError, and TorchScript rethrows it with a traceback around the text: its
// fixed "DefaultCPUAllocator: " words are the only sign, so host memory running out gets the status it deserves.
inline fovea_status torch_status(const char *message) noexcept {
    return std::strstr(message, "DefaultCPUAllocator: ") != nullptr ? FOVEA_ERROR_OUT_OF_MEMORY : FOVEA_ERROR_TORCH;
}

// Runs `body`, mapping every exception to a status and an error. Order matters: OutOfMemoryError is a c10::Error.
template <typename Body>
fovea_status guarded(fovea_error **error, Body &&body) noexcept {
    try {
        body();
        return FOVEA_OK;
    } catch (const ApiError &e) {
        return fail(error, e.status(), e.what());
    } catch (const c10::OutOfMemoryError &e) {
        return fail(error, FOVEA_ERROR_OUT_OF_MEMORY, e.what_without_backtrace());
    } catch (const c10::Error &e) {
        return fail(error, torch_status(e.what_without_backtrace()), e.what_without_backtrace());
    } catch (const std::bad_alloc &) {
        return fail(error, FOVEA_ERROR_OUT_OF_MEMORY, "out of host memory");
    } catch (const std::exception &e) {
        // torch::jit::JITException (a TorchScript `raise`) and other libtorch errors derive from std::exception.
        return fail(error, torch_status(e.what()), e.what());
    } catch (...) {
        return fail(error, FOVEA_ERROR_INTERNAL, "unknown C++ exception in libtorch");
    }
}

// The libtorch type of a C API dtype; throws INVALID_ARGUMENT for an unknown code (fovea_torch.cpp).
c10::ScalarType to_scalar_type(fovea_dtype dtype);

// The sizes of a shape passed across the API, checked: none negative, the byte size of `type` fits in int64.
std::vector<int64_t> checked_sizes(const int64_t *shape, size_t rank, c10::ScalarType type, int64_t *bytes);

inline c10::Device to_device(fovea_device_type type, int32_t index) {
    switch (type) {
        case FOVEA_DEVICE_CPU: return c10::Device(c10::DeviceType::CPU);
        case FOVEA_DEVICE_CUDA:
            require(index >= -1 && index <= std::numeric_limits<int8_t>::max(), "CUDA device index out of range");
            return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
        default: throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, "unknown device type " + std::to_string(type));
    }
}

}  // namespace fovea
