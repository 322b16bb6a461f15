// XGBoost through its C API: the only file that includes xgboost/c_api.h. Every call's
// -1 return becomes an Internal status with XGBGetLastError()'s text.
//
// Blob layout (Save / LoadCostModel):
//   "priortune-costmodel 1\n"
//   one JSON line: metadata, options, byte counts and a hash of the model bytes
//   the booster in XGBoost's UBJSON format
//   the base model's blob, if there is one (same layout, recursively)
#include "costmodel/xgboost_model.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "compiler/target/target.h"
#include "costmodel/features.h"
#include "costmodel/internal/blob.h"

namespace priortune::costmodel {

Status XGBoostOptions::Validate() const {
  if (objective != "rank:pairwise" && objective != "reg:throughput")
    return InvalidArgument("unknown cost-model objective '" + objective + "' (known: rank:pairwise, reg:throughput)");
  if (rounds <= 0) return InvalidArgument("xgboost rounds must be positive, got " + std::to_string(rounds));
  if (max_depth <= 0) return InvalidArgument("xgboost max_depth must be positive, got " + std::to_string(max_depth));
  if (!(eta > 0 && eta <= 1)) return InvalidArgument("xgboost eta must be in (0, 1], got " + std::to_string(eta));
  if (!(subsample > 0 && subsample <= 1))
    return InvalidArgument("xgboost subsample must be in (0, 1], got " + std::to_string(subsample));
  if (!(colsample > 0 && colsample <= 1))
    return InvalidArgument("xgboost colsample must be in (0, 1], got " + std::to_string(colsample));
  if (!(min_child_weight >= 0))
    return InvalidArgument("xgboost min_child_weight must be >= 0, got " + std::to_string(min_child_weight));
  if (pair_samples <= 0)
    return InvalidArgument("xgboost pair_samples must be positive, got " + std::to_string(pair_samples));
  if (nthread <= 0) return InvalidArgument("xgboost nthread must be positive, got " + std::to_string(nthread));
  if (base_half_life < 0) return InvalidArgument("base half-life must be >= 0, got " + std::to_string(base_half_life));
  return OkStatus();
}

namespace {

using internal::kBlobMagic;
using internal::ModelMismatch;

#define PT_XGB(call)                                                                \
  do {                                                                              \
    if ((call) != 0) return Internal(std::string("xgboost: ") + XGBGetLastError()); \
  } while (0)

// Own a DMatrix / Booster handle.
struct Matrix {
  DMatrixHandle h = nullptr;
  ~Matrix() {
    if (h) XGDMatrixFree(h);
  }
};
struct Booster {
  BoosterHandle h = nullptr;
  ~Booster() {
    if (h) XGBoosterFree(h);
  }
};

class XGBoostModel : public CostModel {
 public:
  XGBoostModel(XGBoostOptions options, std::shared_ptr<const CostModel> base)
      : options_(std::move(options)), base_(std::move(base)) {}
  ~XGBoostModel() override {
    if (booster_) XGBoosterFree(booster_);
  }

  Status Fit(const Dataset& data) override {
    if (data.rows() == 0) return InvalidArgument("cost model: no samples to fit");
    if (meta_.feature_count != 0 && data.cols != meta_.feature_count)
      return InvalidArgument("cost model: rows of " + std::to_string(data.cols) + " features, the model takes " +
                             std::to_string(meta_.feature_count));
    double base_weight = 1;
    if (base_ && options_.base_half_life > 0) {
      base_weight = std::pow(2.0, -static_cast<double>(data.rows()) / options_.base_half_life);
      if (base_weight < 0.05) base_weight = 0;  // the base is dropped
    }
    // Rows sorted by task: XGBoost's groups are runs of consecutive rows.
    std::vector<size_t> order(data.rows());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return data.groups[a] < data.groups[b]; });
    std::vector<double> y = NormalisedThroughput(data);
    std::vector<float> x(data.rows() * data.cols), label(data.rows()), weight(data.rows());
    std::vector<unsigned> group_sizes;
    for (size_t r = 0; r < order.size(); ++r) {
      size_t i = order[r];
      std::copy(data.row(i), data.row(i) + data.cols, x.begin() + r * data.cols);
      label[r] = static_cast<float>(y[i]);
      weight[r] = static_cast<float>(std::max(y[i], 0.05));
      if (r == 0 || data.groups[i] != data.groups[order[r - 1]]) group_sizes.push_back(0);
      ++group_sizes.back();
    }
    Matrix m;
    PT_RETURN_IF_ERROR(MakeMatrix(x.data(), data.rows(), data.cols, base_weight, m));
    PT_XGB(XGDMatrixSetFloatInfo(m.h, "label", label.data(), label.size()));
    if (ranking()) {
      PT_XGB(XGDMatrixSetUIntInfo(m.h, "group", group_sizes.data(), group_sizes.size()));
    } else {
      PT_XGB(XGDMatrixSetFloatInfo(m.h, "weight", weight.data(), weight.size()));
    }
    // Trained aside and swapped in at the end: a failed fit leaves the last model intact.
    Booster fresh;
    PT_XGB(XGBoosterCreate(&m.h, 1, &fresh.h));
    PT_RETURN_IF_ERROR(SetParams(fresh.h));
    for (int i = 0; i < options_.rounds; ++i) PT_XGB(XGBoosterUpdateOneIter(fresh.h, i, m.h));
    std::swap(booster_, fresh.h);
    base_weight_ = base_weight;
    trained_ = true;
    meta_.feature_count = data.cols;
    meta_.samples = static_cast<int64_t>(data.rows());
    if (&data != &samples_) samples_ = data;
    return OkStatus();
  }

  Status Update(const Dataset& more) override {
    if (trained_ && samples_.rows() == 0)
      return FailedPrecondition("cost model: a loaded model keeps no samples to update with; Fit it on all of them");
    Dataset all = samples_;
    all.Append(more);
    return Fit(all);
  }

  StatusOr<std::vector<float>> Predict(const float* features, size_t rows) const override {
    if (rows == 0) return std::vector<float>{};
    if (!trained_) {
      if (base_) return base_->Predict(features, rows);  // full weight before any sample
      return std::vector<float>(rows, 0.f);
    }
    Matrix m;
    PT_RETURN_IF_ERROR(MakeMatrix(features, rows, meta_.feature_count, base_weight_, m));
    bst_ulong len = 0;
    const float* out = nullptr;
    PT_XGB(XGBoosterPredict(booster_, m.h, 0, 0, 0, &len, &out));
    if (len != rows)
      return Internal("xgboost: " + std::to_string(len) + " predictions for " + std::to_string(rows) + " rows");
    return std::vector<float>(out, out + len);
  }

  StatusOr<std::string> Save() const override {
    std::string model;
    if (trained_) {
      bst_ulong len = 0;
      const char* bytes = nullptr;
      PT_XGB(XGBoosterSaveModelToBuffer(booster_, R"({"format": "ubj"})", &len, &bytes));
      model.assign(bytes, len);
    }
    std::string base;
    if (base_) {
      PT_ASSIGN_OR_RETURN(base, base_->Save());
    }
    nlohmann::json h;
    internal::WriteMetadata(meta_, h);
    h["rounds"] = options_.rounds;
    h["max_depth"] = options_.max_depth;
    h["eta"] = options_.eta;
    h["pair_samples"] = options_.pair_samples;
    h["min_child_weight"] = options_.min_child_weight;
    h["subsample"] = options_.subsample;
    h["colsample"] = options_.colsample;
    h["seed"] = options_.seed;
    h["base_half_life"] = options_.base_half_life;
    h["base_weight"] = base_weight_;
    h["model_bytes"] = model.size();
    h["model_hash"] = compiler::HashKey(model);
    h["base_bytes"] = base.size();
    return std::string(kBlobMagic) + h.dump() + "\n" + model + base;
  }

  bool trained() const override { return trained_ || (base_ && base_->trained()); }
  const ModelMetadata& metadata() const override { return meta_; }
  ModelMetadata& mutable_metadata() override { return meta_; }

  // Loading: the booster from bytes.
  Status LoadBooster(const std::string& bytes) {
    DMatrixHandle none = nullptr;
    PT_XGB(XGBoosterCreate(&none, 0, &booster_));
    PT_XGB(XGBoosterLoadModelFromBuffer(booster_, bytes.data(), bytes.size()));
    PT_RETURN_IF_ERROR(SetParams(booster_));
    bst_ulong features = 0;
    PT_XGB(XGBoosterGetNumFeature(booster_, &features));
    if (features != meta_.feature_count)
      return Status(StatusCode::kDataLoss, "cost model blob: the booster takes " + std::to_string(features) +
                                               " features, its header says " + std::to_string(meta_.feature_count));
    trained_ = true;
    return OkStatus();
  }

  ModelMetadata meta_;
  double base_weight_ = 1;  // of the base's scores in the margin (see base_half_life)

 private:
  bool ranking() const { return options_.objective == "rank:pairwise"; }

  Status MakeMatrix(const float* x, size_t rows, size_t cols, double base_weight, Matrix& m) const {
    PT_XGB(XGDMatrixCreateFromMat_omp(x, rows, cols, std::numeric_limits<float>::quiet_NaN(), &m.h, options_.nthread));
    if (base_ && base_->trained() && base_weight > 0) {
      PT_ASSIGN_OR_RETURN(std::vector<float> margin, base_->Predict(x, rows));
      for (float& v : margin) v = static_cast<float>(v * base_weight);
      PT_XGB(XGDMatrixSetFloatInfo(m.h, "base_margin", margin.data(), margin.size()));
    }
    return OkStatus();
  }

  Status SetParams(BoosterHandle booster) {
    auto set = [&](const char* k, const std::string& v) { return XGBoosterSetParam(booster, k, v.c_str()); };
    PT_XGB(set("objective", ranking() ? "rank:pairwise" : "reg:squarederror"));
    PT_XGB(set("max_depth", std::to_string(options_.max_depth)));
    PT_XGB(set("eta", std::to_string(options_.eta)));
    PT_XGB(set("min_child_weight", std::to_string(options_.min_child_weight)));
    PT_XGB(set("subsample", std::to_string(options_.subsample)));
    PT_XGB(set("colsample_bytree", std::to_string(options_.colsample)));
    if (ranking()) PT_XGB(set("num_pairsample", std::to_string(options_.pair_samples)));
    PT_XGB(set("nthread", std::to_string(options_.nthread)));
    PT_XGB(set("seed", std::to_string(options_.seed)));
    PT_XGB(set("tree_method", "hist"));
    PT_XGB(set("verbosity", "0"));
    if (!ranking()) PT_XGB(set("base_score", "0"));
    return OkStatus();
  }

  XGBoostOptions options_;
  std::shared_ptr<const CostModel> base_;
  BoosterHandle booster_ = nullptr;
  bool trained_ = false;
  Dataset samples_;  // of the last fit, for Update (a loaded model starts without them)
};

StatusOr<std::unique_ptr<CostModel>> Load(const std::string& blob, size_t& used, const std::string& expected_target) {
  PT_ASSIGN_OR_RETURN(internal::BlobHeader header, internal::ReadBlobHeader(blob));
  const nlohmann::json& h = header.json;
  const size_t eol = header.payload - 1;
  try {
    XGBoostOptions options;
    options.objective = h.at("objective").get<std::string>();
    options.rounds = h.at("rounds").get<int>();
    options.max_depth = h.at("max_depth").get<int>();
    options.eta = h.at("eta").get<double>();
    options.pair_samples = h.value("pair_samples", 1);  // absent in blobs from before it was set
    options.min_child_weight = h.at("min_child_weight").get<double>();
    options.subsample = h.at("subsample").get<double>();
    options.colsample = h.value("colsample", 1.0);  // absent in blobs from before it was set
    options.seed = h.at("seed").get<uint64_t>();
    options.base_half_life = h.value("base_half_life", 0.0);
    double base_weight = h.value("base_weight", 1.0);
    ModelMetadata meta = internal::ReadMetadata(h);
    PT_RETURN_IF_ERROR(internal::CheckMetadata(meta, CostModelKind::kXgboost, expected_target));
    PT_RETURN_IF_ERROR(options.Validate());
    size_t model_bytes = h.at("model_bytes").get<size_t>(), base_bytes = h.at("base_bytes").get<size_t>();
    size_t available = blob.size() - (eol + 1);
    if (model_bytes > available || base_bytes > available - model_bytes)
      return Status(StatusCode::kDataLoss, "cost model blob: truncated (" + std::to_string(blob.size()) + " bytes)");
    PT_ASSIGN_OR_RETURN(std::string model,
                        internal::CheckedBytes(blob, eol + 1, model_bytes, h.at("model_hash").get<std::string>()));
    std::shared_ptr<const CostModel> base;
    if (base_bytes > 0) {
      size_t base_used = 0;
      PT_ASSIGN_OR_RETURN(std::unique_ptr<CostModel> b,
                          Load(blob.substr(eol + 1 + model_bytes, base_bytes), base_used, expected_target));
      if (b->metadata().feature_count != meta.feature_count)
        return Status(StatusCode::kDataLoss, "cost model blob: its base takes " +
                                                 std::to_string(b->metadata().feature_count) + " features, it " +
                                                 std::to_string(meta.feature_count));
      base = std::move(b);
    }
    auto m = std::make_unique<XGBoostModel>(options, std::move(base));
    m->meta_ = meta;
    m->base_weight_ = base_weight;
    if (model_bytes > 0) PT_RETURN_IF_ERROR(m->LoadBooster(model));
    used = eol + 1 + model_bytes + base_bytes;
    return std::unique_ptr<CostModel>(std::move(m));
  } catch (const nlohmann::json::exception& e) {
    return Status(StatusCode::kDataLoss, std::string("cost model blob: bad header field: ") + e.what());
  }
}

}  // namespace

StatusOr<std::unique_ptr<CostModel>> MakeXGBoostModel(const XGBoostOptions& options, const std::string& target_key,
                                                      std::shared_ptr<const CostModel> base) {
  PT_RETURN_IF_ERROR(options.Validate());
  auto m = std::make_unique<XGBoostModel>(options, base);
  m->meta_.kind = CostModelKind::kXgboost;
  m->meta_.feature_version = kFeatureVersion;
  m->meta_.target_key = target_key;
  m->meta_.objective = options.objective;
  if (base) {
    if (base->metadata().feature_version != kFeatureVersion)
      return ModelMismatch("feature version", std::to_string(base->metadata().feature_version),
                           std::to_string(kFeatureVersion));
    m->meta_.feature_count = base->metadata().feature_count;
  }
  return std::unique_ptr<CostModel>(std::move(m));
}

StatusOr<std::unique_ptr<CostModel>> LoadXGBoostModel(const std::string& blob, const std::string& expected_target) {
  size_t used = 0;
  return Load(blob, used, expected_target);
}

}  // namespace priortune::costmodel
