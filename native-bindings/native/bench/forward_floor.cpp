// The floor for the Java layer's forward latency: the same TorchScript model, run from C++ against the same
// libtorch with the same thread count and the same input, timed the same way (median of N after warm-up).
//
//   fovea_forward_floor MODEL BATCH THREADS WARMUP ITERATIONS [SIZE]
//
// The input is a float32 batch of 3 x SIZE x SIZE images (SIZE defaults to 224) filled with 0.5.
// Prints one line: `median_ms=<x> p90_ms=<y>`, read by the benchmark driver.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        std::fprintf(stderr, "usage: %s MODEL BATCH THREADS WARMUP ITERATIONS [SIZE]\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1];
    int64_t batch = std::atoll(argv[2]);
    int threads = std::atoi(argv[3]);
    int warmup = std::atoi(argv[4]);
    int iterations = std::atoi(argv[5]);
    int64_t size = argc == 7 ? std::atoll(argv[6]) : 224;

    at::set_num_threads(threads);
    torch::jit::Module module = torch::jit::load(model_path);
    module.eval();
    at::Tensor input = torch::full({batch, 3, size, size}, 0.5f);

    std::vector<double> millis;
    for (int i = 0; i < warmup + iterations; i++) {
        auto start = std::chrono::steady_clock::now();
        {
            c10::InferenceMode inference;
            c10::IValue output = module.forward({input});
            at::Tensor result = output.toTensor().contiguous();
        }
        auto end = std::chrono::steady_clock::now();
        if (i >= warmup) {
            millis.push_back(std::chrono::duration<double, std::milli>(end - start).count());
        }
    }
    std::sort(millis.begin(), millis.end());
    std::printf("median_ms=%.4f p90_ms=%.4f\n", millis[millis.size() / 2], millis[millis.size() * 9 / 10]);
    return 0;
}
