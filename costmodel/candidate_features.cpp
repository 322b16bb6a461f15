// A candidate's features as the tuner uses them (features.h): lowered and extracted, with
// the workload context when asked, and as the blob the store's feature cache keeps.
#include <cmath>
#include <cstring>

#include "costmodel/features.h"

namespace priortune::costmodel {

StatusOr<std::vector<float>> CandidateFeatures(const compiler::Workload& w, const compiler::Target& t,
                                               const compiler::Config& c, const FeatureOptions& options) {
  PT_ASSIGN_OR_RETURN(compiler::LoweredFunc f, compiler::LowerWorkload(w, t, c));
  return LoweredFeatures(f, w, t, options);
}

std::string FeatureBlob(const std::vector<float>& loop_nest) {
  return std::string(reinterpret_cast<const char*>(loop_nest.data()), loop_nest.size() * sizeof(float));
}

std::optional<std::vector<float>> FeaturesFromBlob(const std::string& blob) {
  const size_t n = static_cast<size_t>(LoopNestFeatureCount());
  if (blob.size() != n * sizeof(float)) return std::nullopt;
  std::vector<float> v(n);
  std::memcpy(v.data(), blob.data(), blob.size());
  for (float x : v)
    if (!std::isfinite(x)) return std::nullopt;
  return v;
}

std::vector<float> WithContext(std::vector<float> loop_nest, const compiler::Workload& w,
                               const FeatureOptions& options) {
  if (options.workload_context) {
    std::vector<float> ctx = WorkloadContextFeatures(w);
    loop_nest.insert(loop_nest.end(), ctx.begin(), ctx.end());
  }
  return loop_nest;
}

std::vector<float> LoweredFeatures(const compiler::LoweredFunc& f, const compiler::Workload& w,
                                   const compiler::Target& t, const FeatureOptions& options) {
  return WithContext(ExtractLoopNestFeatures(f, t), w, options);
}

}  // namespace priortune::costmodel
