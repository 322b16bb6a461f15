// The framing every cost-model blob shares (xgboost_model.cpp, neural_model.cpp): a magic
// line, one JSON header line naming the kind, then the kind's bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "compiler/support/status.h"
#include "compiler/target/target.h"
#include "costmodel/cost_model.h"
#include "costmodel/features.h"

namespace priortune::costmodel::internal {

inline constexpr char kBlobMagic[] = "priortune-costmodel 1\n";

struct BlobHeader {
  nlohmann::json json;  // an object
  size_t payload = 0;   // offset of the bytes after the header line
};

// DataLoss for a blob without the magic line or a JSON object header.
inline StatusOr<BlobHeader> ReadBlobHeader(const std::string& blob) {
  const size_t magic = sizeof(kBlobMagic) - 1;
  if (blob.compare(0, magic, kBlobMagic) != 0)
    return Status(StatusCode::kDataLoss, "cost model blob: not a priortune cost model (bad header)");
  size_t eol = blob.find('\n', magic);
  if (eol == std::string::npos) return Status(StatusCode::kDataLoss, "cost model blob: truncated header");
  BlobHeader h;
  h.json = nlohmann::json::parse(blob.begin() + magic, blob.begin() + eol, nullptr, false);
  if (h.json.is_discarded() || !h.json.is_object())
    return Status(StatusCode::kDataLoss, "cost model blob: header is not JSON");
  h.payload = eol + 1;
  return h;
}

// FailedPrecondition naming both sides.
inline Status ModelMismatch(const std::string& what, const std::string& stored, const std::string& wanted) {
  return FailedPrecondition("stored cost model was made for " + what + " " + stored + ", this run needs " + wanted);
}

// The ModelMetadata fields every header holds.
inline void WriteMetadata(const ModelMetadata& m, nlohmann::json& h) {
  h["kind"] = CostModelName(m.kind);
  h["feature_version"] = m.feature_version;
  h["feature_count"] = m.feature_count;
  h["target_key"] = m.target_key;
  h["objective"] = m.objective;
  h["training_set"] = m.training_set;
  h["metrics"] = m.metrics_json;
  h["samples"] = m.samples;
}

// Throws nlohmann::json::exception for a missing or mistyped field (the loaders turn it
// into DataLoss).
inline ModelMetadata ReadMetadata(const nlohmann::json& h) {
  ModelMetadata m;
  auto kind = ParseCostModel(h.at("kind").get<std::string>());
  if (!kind.ok()) throw nlohmann::json::other_error::create(501, kind.status().message(), nullptr);
  m.kind = *kind;
  m.feature_version = h.at("feature_version").get<int>();
  m.feature_count = h.at("feature_count").get<size_t>();
  m.target_key = h.at("target_key").get<std::string>();
  m.objective = h.at("objective").get<std::string>();
  m.training_set = h.at("training_set").get<std::string>();
  m.metrics_json = h.at("metrics").get<std::string>();
  m.samples = h.at("samples").get<int64_t>();
  return m;
}

// FailedPrecondition for a model of another kind, feature version or (`expected_target`
// not empty) target.
inline Status CheckMetadata(const ModelMetadata& m, CostModelKind kind, const std::string& expected_target) {
  if (m.kind != kind)
    return FailedPrecondition(std::string("stored cost model is of kind '") + CostModelName(m.kind) + "', not " +
                              CostModelName(kind));
  if (m.feature_version != kFeatureVersion)
    return ModelMismatch("feature version", std::to_string(m.feature_version), std::to_string(kFeatureVersion));
  if (!expected_target.empty() && m.target_key != expected_target)
    return ModelMismatch("target", m.target_key, expected_target);
  return OkStatus();
}

// The `bytes` bytes at `offset` of `blob`, checked against their hash: DataLoss if the
// blob is too short or they do not match.
inline StatusOr<std::string> CheckedBytes(const std::string& blob, size_t offset, size_t bytes,
                                          const std::string& hash) {
  if (offset > blob.size() || bytes > blob.size() - offset)
    return Status(StatusCode::kDataLoss, "cost model blob: truncated (" + std::to_string(blob.size()) + " bytes)");
  std::string out = blob.substr(offset, bytes);
  if (compiler::HashKey(out) != hash)
    return Status(StatusCode::kDataLoss, "cost model blob: model bytes do not match their hash (corrupt)");
  return out;
}

}  // namespace priortune::costmodel::internal
