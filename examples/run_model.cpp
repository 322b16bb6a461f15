// Runs a model library written by `priortune build-model`: no tuner, store or LLVM, only
// the library and its C API header.
//
//   priortune build-model resnet18.onnx --db priortune.db --out build/resnet18
//   c++ -O2 -std=c++17 examples/run_model.cpp -I build/resnet18 -L build/resnet18 \
//       -lpriortune_model -Wl,-rpath,build/resnet18 -o run_model
//   ./run_model [--threads N] [--repeat N] [--warmup N] [--input x.bin] [--output y.bin]
//
// Input and output are raw float32 files; without --input the input is uniform [-1, 1)
// from a fixed seed. Without --threads the library runs with the thread count it was
// built for. Prints the median latency of --repeat inferences after --warmup (default 10)
// untimed ones.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "priortune_model.h"

int main(int argc, char** argv) {
  int threads = 0, repeat = 20, warmup = 10;
  std::string input_path, output_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "run_model: %s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--threads")
      threads = std::atoi(argv[++i]);
    else if (a == "--repeat")
      repeat = std::atoi(argv[++i]);
    else if (a == "--warmup")
      warmup = std::atoi(argv[++i]);
    else if (a == "--input")
      input_path = argv[++i];
    else if (a == "--output")
      output_path = argv[++i];
    else {
      std::fprintf(stderr, "run_model: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (threads < 0 || repeat < 1 || warmup < 0) {
    std::fprintf(stderr, "run_model: --threads and --repeat must be at least 1, --warmup at least 0\n");
    return 2;
  }
  if (threads > 0) pt_model_set_threads(threads);
  pt_model* m = pt_model_create();
  if (!m) {
    std::fprintf(stderr, "run_model: %s\n", pt_model_last_error());
    return 1;
  }
  std::vector<float> input(static_cast<size_t>(pt_model_input_size(m)));
  if (!input_path.empty()) {
    std::ifstream f(input_path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
    if (bytes.size() != input.size() * 4) {
      std::fprintf(stderr, "run_model: %s holds %zu bytes, the model takes %zu\n", input_path.c_str(), bytes.size(),
                   input.size() * 4);
      return 2;
    }
    std::memcpy(input.data(), bytes.data(), bytes.size());
  } else {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& v : input) v = u(rng);
  }
  std::vector<float> output(static_cast<size_t>(pt_model_output_size(m)));
  if (pt_model_run(m, input.data(), input.size(), output.data(), output.size()) != 0) {
    std::fprintf(stderr, "run_model: %s\n", pt_model_last_error());
    return 1;
  }
  for (int r = 1; r < warmup; ++r) pt_model_run(m, input.data(), input.size(), output.data(), output.size());
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    pt_model_run(m, input.data(), input.size(), output.data(), output.size());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s\n%d thread(s): %.3f ms per inference (median of %d)\n", pt_model_info(), pt_model_threads(),
              ms[ms.size() / 2], repeat);
  if (!output_path.empty()) {
    std::ofstream f(output_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * 4));
  }
  pt_model_destroy(m);
  return 0;
}
