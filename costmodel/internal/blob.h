// The framing every cost-model blob shares (xgboost_model.cpp, neural_model.cpp): a magic
// line, one JSON header line naming the kind, then the kind's bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "compiler/status.h"

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

}  // namespace priortune::costmodel::internal
