// The C API of fovea_torch.h over libtorch's C++ API. Builds against libtorch 1.13 and 2.x.
//
// Every exported function either cannot throw or runs its body through `guarded`, which turns any C++ exception
// into a fovea_status plus a fovea_error: nothing thrown here may unwind into the JVM.

#include "fovea_torch.h"
#include "internal.h"

#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fovea {

c10::ScalarType to_scalar_type(fovea_dtype dtype) {
    switch (dtype) {
        case FOVEA_DTYPE_UINT8: return c10::kByte;
        case FOVEA_DTYPE_INT8: return c10::kChar;
        case FOVEA_DTYPE_INT32: return c10::kInt;
        case FOVEA_DTYPE_INT64: return c10::kLong;
        case FOVEA_DTYPE_FLOAT16: return c10::kHalf;
        case FOVEA_DTYPE_BFLOAT16: return c10::kBFloat16;
        case FOVEA_DTYPE_FLOAT32: return c10::kFloat;
        case FOVEA_DTYPE_FLOAT64: return c10::kDouble;
        case FOVEA_DTYPE_BOOL: return c10::kBool;
        default: throw ApiError(FOVEA_ERROR_INVALID_ARGUMENT, "unknown dtype code " + std::to_string(dtype));
    }
}

std::vector<int64_t> checked_sizes(const int64_t *shape, size_t rank, c10::ScalarType type, int64_t *bytes) {
    require(rank == 0 || shape != nullptr, "shape must not be NULL when rank > 0");
    std::vector<int64_t> sizes(shape, shape + rank);
    *bytes = static_cast<int64_t>(c10::elementSize(type));
    for (int64_t size : sizes) {
        require(size >= 0, "tensor sizes must not be negative");
        require(size == 0 || *bytes <= std::numeric_limits<int64_t>::max() / size, "tensor byte size overflows int64");
        *bytes *= size;
    }
    return sizes;
}

}  // namespace fovea

namespace {

using fovea::ApiError;
using fovea::checked_sizes;
using fovea::guarded;
using fovea::require;
using fovea::to_device;
using fovea::to_scalar_type;

fovea_dtype to_fovea_dtype(c10::ScalarType type) {
    switch (type) {
        case c10::kByte: return FOVEA_DTYPE_UINT8;
        case c10::kChar: return FOVEA_DTYPE_INT8;
        case c10::kInt: return FOVEA_DTYPE_INT32;
        case c10::kLong: return FOVEA_DTYPE_INT64;
        case c10::kHalf: return FOVEA_DTYPE_FLOAT16;
        case c10::kBFloat16: return FOVEA_DTYPE_BFLOAT16;
        case c10::kFloat: return FOVEA_DTYPE_FLOAT32;
        case c10::kDouble: return FOVEA_DTYPE_FLOAT64;
        case c10::kBool: return FOVEA_DTYPE_BOOL;
        default: return FOVEA_DTYPE_OTHER;
    }
}

void describe_device(const c10::Device &device, fovea_device_type *type, int32_t *index) {
    *type = device.is_cuda() ? FOVEA_DEVICE_CUDA : FOVEA_DEVICE_CPU;
    *index = device.has_index() ? device.index() : (device.is_cuda() ? -1 : 0);
}

// Appends the tensors of a model output in depth-first order; throws for anything that is not a tensor.
void flatten_output(const c10::IValue &value, std::vector<at::Tensor> &into) {
    if (value.isTensor()) {
        into.push_back(value.toTensor());
    } else if (value.isTuple()) {
        for (const auto &element : value.toTupleRef().elements()) {
            flatten_output(element, into);
        }
    } else if (value.isList()) {
        for (const c10::IValue &element : value.toListRef()) {
            flatten_output(element, into);
        }
    } else {
        throw ApiError(FOVEA_ERROR_UNSUPPORTED_OUTPUT,
                       "model output of type " + value.tagKind() +
                           " is not supported: expected a Tensor or a tuple/list of Tensors");
    }
}

// An input as a converted module takes it: in its precision and layout, on the device the input is on (the casts are
// device ops there, so a CUDA input crosses the bus once, in the type the caller sent).
at::Tensor converted_input(const fovea_module &module, const at::Tensor &input) {
    at::Tensor converted = input;
    if (module.precision && converted.is_floating_point() && converted.scalar_type() != *module.precision) {
        converted = converted.to(*module.precision);
    }
    if (module.channels_last && converted.dim() == 4) {
        converted = converted.contiguous(at::MemoryFormat::ChannelsLast);
    }
    return converted;
}

}  // namespace

extern "C" {

fovea_status fovea_error_status(const fovea_error *error) {
    return error == nullptr ? FOVEA_ERROR_INVALID_ARGUMENT : error->status;
}

const char *fovea_error_message(const fovea_error *error) {
    return error == nullptr ? "" : error->message.c_str();
}

void fovea_error_free(fovea_error *error) {
    delete error;
}

const char *fovea_torch_version(void) {
    return TORCH_VERSION;
}

int32_t fovea_cuda_is_available(void) {
    try {
        return torch::cuda::is_available() ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

int32_t fovea_cuda_device_count(void) {
    try {
        return static_cast<int32_t>(torch::cuda::device_count());
    } catch (...) {
        return 0;
    }
}

fovea_status fovea_set_intra_op_threads(int32_t num_threads, fovea_error **error) {
    return guarded(error, [&] {
        require(num_threads >= 1, "intra-op thread count must be at least 1");
        at::set_num_threads(num_threads);
    });
}

int32_t fovea_intra_op_threads(void) {
    return at::get_num_threads();
}

fovea_status fovea_tensor_from_blob(void *data, const int64_t *shape, size_t rank, fovea_dtype dtype,
                                    fovea_tensor **out, fovea_error **error) {
    return guarded(error, [&] {
        require(out != nullptr, "out must not be NULL");
        c10::ScalarType type = to_scalar_type(dtype);
        int64_t bytes = 0;
        std::vector<int64_t> sizes = checked_sizes(shape, rank, type, &bytes);
        require(data != nullptr || bytes == 0, "data must not be NULL for a tensor with elements");
        // No deleter: libtorch must never free caller memory.
        at::Tensor view = torch::from_blob(data, sizes, torch::TensorOptions().dtype(type));
        *out = new fovea_tensor{std::move(view)};
    });
}

fovea_status fovea_tensor_to_device(const fovea_tensor *tensor, fovea_device_type device_type, int32_t device_index,
                                    fovea_tensor **out, fovea_error **error) {
    return guarded(error, [&] {
        require(tensor != nullptr, "tensor must not be NULL");
        require(out != nullptr, "out must not be NULL");
        c10::Device device = to_device(device_type, device_index);
        c10::InferenceMode inference;
        at::Tensor copy = tensor->tensor.to(torch::TensorOptions().device(device), /*non_blocking=*/false,
                                            /*copy=*/true)
                              .contiguous();
        *out = new fovea_tensor{std::move(copy)};
    });
}

size_t fovea_tensor_rank(const fovea_tensor *tensor) {
    return static_cast<size_t>(tensor->tensor.dim());
}

const int64_t *fovea_tensor_shape(const fovea_tensor *tensor) {
    return tensor->tensor.sizes().data();
}

fovea_dtype fovea_tensor_dtype(const fovea_tensor *tensor) {
    return to_fovea_dtype(tensor->tensor.scalar_type());
}

void fovea_tensor_device(const fovea_tensor *tensor, fovea_device_type *device_type, int32_t *device_index) {
    describe_device(tensor->tensor.device(), device_type, device_index);
}

fovea_status fovea_tensor_host_data(const fovea_tensor *tensor, void **data, size_t *byte_size, fovea_error **error) {
    return guarded(error, [&] {
        require(tensor != nullptr, "tensor must not be NULL");
        require(data != nullptr && byte_size != nullptr, "data and byte_size must not be NULL");
        const at::Tensor &t = tensor->tensor;
        require(t.device().is_cpu(), "tensor is not on the CPU: copy it to the CPU first");
        require(t.is_contiguous(), "tensor is not contiguous");
        *data = t.data_ptr();
        *byte_size = t.nbytes();
    });
}

void fovea_tensor_free(fovea_tensor *tensor) {
    delete tensor;
}

fovea_status fovea_module_load(const char *path, fovea_device_type device_type, int32_t device_index,
                               fovea_module **out, fovea_error **error) {
    return guarded(error, [&] {
        require(path != nullptr, "path must not be NULL");
        require(out != nullptr, "out must not be NULL");
        c10::Device device = to_device(device_type, device_index);
        torch::jit::Module module = torch::jit::load(std::string(path), device);
        module.eval();
        *out = new fovea_module{std::move(module), device};
    });
}

void fovea_module_device(const fovea_module *module, fovea_device_type *device_type, int32_t *device_index) {
    describe_device(module->device, device_type, device_index);
}

fovea_status fovea_module_forward(fovea_module *module, fovea_tensor *const *inputs, size_t num_inputs,
                                  fovea_tensor **outputs, size_t output_capacity, size_t *num_outputs,
                                  fovea_error **error) {
    return guarded(error, [&] {
        require(module != nullptr, "module must not be NULL");
        require(num_inputs == 0 || inputs != nullptr, "inputs must not be NULL when num_inputs > 0");
        require(outputs != nullptr || output_capacity == 0, "outputs must not be NULL when output_capacity > 0");
        require(num_outputs != nullptr, "num_outputs must not be NULL");
        std::vector<c10::IValue> arguments;
        arguments.reserve(num_inputs);
        for (size_t i = 0; i < num_inputs; i++) {
            require(inputs[i] != nullptr, "input tensor handle must not be NULL");
        }
        std::vector<at::Tensor> results;
        {
            c10::InferenceMode inference;
            for (size_t i = 0; i < num_inputs; i++) {
                arguments.emplace_back(converted_input(*module, inputs[i]->tensor));
            }
            c10::IValue output = module->module.forward(std::move(arguments));
            flatten_output(output, results);
            for (at::Tensor &result : results) {
                result = result.contiguous();
            }
        }
        if (results.size() > output_capacity) {
            throw ApiError(FOVEA_ERROR_UNSUPPORTED_OUTPUT,
                           "model returned " + std::to_string(results.size()) + " output tensors but the caller takes " +
                               std::to_string(output_capacity));
        }
        // Allocate every handle before publishing any, so a failure leaves the caller's array untouched.
        std::vector<std::unique_ptr<fovea_tensor>> handles;
        handles.reserve(results.size());
        for (at::Tensor &result : results) {
            handles.emplace_back(new fovea_tensor{std::move(result)});
        }
        for (size_t i = 0; i < handles.size(); i++) {
            outputs[i] = handles[i].release();
        }
        *num_outputs = handles.size();
    });
}

void fovea_module_free(fovea_module *module) {
    delete module;
}

fovea_status fovea_module_convert(fovea_module *module, fovea_dtype precision, int32_t channels_last,
                                  fovea_error **error) {
    return guarded(error, [&] {
        require(module != nullptr, "module must not be NULL");
        require(precision == FOVEA_DTYPE_FLOAT32 || precision == FOVEA_DTYPE_FLOAT16 ||
                    precision == FOVEA_DTYPE_BFLOAT16,
                "precision must be FLOAT32, FLOAT16 or BFLOAT16, not dtype code " + std::to_string(precision));
        c10::ScalarType type = to_scalar_type(precision);
        // Not InferenceMode: set_data may not put inference tensors into the module's ordinary ones.
        torch::NoGradGuard no_grad;
        // Floating-point state only, as nn.Module.to(dtype) does (jit::Module::to would also cast integer buffers).
        auto convert = [&](at::Tensor state) {
            at::Tensor converted = state.is_floating_point() ? state.to(type) : state;
            if (channels_last != 0 && converted.dim() == 4) {
                converted = converted.contiguous(at::MemoryFormat::ChannelsLast);
            }
            if (!converted.is_same(state)) {
                state.set_data(converted);
            }
        };
        for (const at::Tensor &parameter : module->module.parameters()) {
            convert(parameter);
        }
        for (const at::Tensor &buffer : module->module.buffers()) {
            convert(buffer);
        }
        module->precision = type == c10::kFloat ? c10::nullopt : c10::optional<c10::ScalarType>(type);
        module->channels_last = channels_last != 0;
    });
}

fovea_status fovea_softmax_topk(const fovea_tensor *logits, int32_t k, fovea_tensor **values, fovea_tensor **indices,
                                fovea_error **error) {
    return guarded(error, [&] {
        require(logits != nullptr, "logits must not be NULL");
        require(values != nullptr && indices != nullptr, "values and indices must not be NULL");
        const at::Tensor &t = logits->tensor;
        require(t.dim() == 2 && t.is_floating_point(),
                "logits must be a floating-point [rows, classes] tensor, got " + std::string(t.toString()) + " " +
                    c10::str(t.sizes()));
        require(k >= 1 && k <= t.size(1),
                "k " + std::to_string(k) + " is not between 1 and the class count " + std::to_string(t.size(1)));
        c10::InferenceMode inference;
        at::Tensor probabilities = at::softmax(t, 1, c10::kFloat);
        std::tuple<at::Tensor, at::Tensor> top = at::topk(probabilities, k, 1, /*largest=*/true, /*sorted=*/true);
        auto top_values = std::make_unique<fovea_tensor>(fovea_tensor{std::get<0>(top).contiguous()});
        auto top_indices = std::make_unique<fovea_tensor>(fovea_tensor{std::get<1>(top).contiguous()});
        *values = top_values.release();
        *indices = top_indices.release();
    });
}

}  // extern "C"
