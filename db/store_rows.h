// What the SQL store backends share: the record columns they select and reading one
// row of them into a Record, and the import loop. Internal to db/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/store.h"

namespace priortune::db {

// The columns ReadRecordRow reads, joined with the workload and target.
inline constexpr const char* kRecordColumns =
    "r.id, w.key, w.json, w.op, t.key, t.json, t.isa_family, r.config, r.config_hash, r.costs, "
    "r.error_kind, r.error_message, r.compile_seconds, r.worker, r.job_id, r.timestamp, "
    "r.template_version "
    "FROM records r JOIN workloads w ON w.id = r.workload_id JOIN targets t ON t.id = r.target_id ";

// The message of AddRecordsUnderLease when `holder` does not hold `lease` (any more).
inline std::string LeaseLost(const std::string& lease, const std::string& holder) {
  return "lease " + lease + " lost: " + holder + " no longer holds it (it expired and another server may have "
         "taken it); the batch was not stored";
}

// A row of kRecordColumns; `Row` has Text(col), Int(col), Real(col) and IsNull(col).
// DataLoss if the stored error kind is not one we know (a newer priortune wrote it, or
// the store was edited): never guessed.
template <class Row>
StatusOr<Record> ReadRecordRow(const Row& s) {
  Record r;
  r.id = s.Int(0);
  r.workload_key = s.Text(1);
  r.workload_json = s.Text(2);
  r.op = s.Text(3);
  r.target_key = s.Text(4);
  r.target_json = s.Text(5);
  r.isa_family = s.Text(6);
  r.config_json = s.Text(7);
  r.config_hash = s.Text(8);
  nlohmann::json costs = nlohmann::json::parse(s.Text(9), nullptr, /*allow_exceptions=*/false);
  if (costs.is_array())
    for (const auto& c : costs)
      if (c.is_number()) r.costs.push_back(c.template get<double>());
  auto kind = ErrorKindFromName(s.Text(10));
  if (!kind.ok())
    return Status(StatusCode::kDataLoss, "record " + std::to_string(r.id) + ": field 'error_kind': " +
                                             kind.status().message());
  r.error = *kind;
  r.error_message = s.Text(11);
  r.compile_seconds = s.Real(12);
  r.worker = s.Text(13);
  r.job_id = s.IsNull(14) ? 0 : s.Int(14);
  r.timestamp = s.Real(15);
  r.template_version = static_cast<int>(s.Int(16));
  return r;
}

// Inside the caller's transaction: each record `exists` does not find is inserted.
inline StatusOr<ImportStats> InsertNewRecords(std::vector<Record>& records,
                                              const std::function<StatusOr<bool>(const Record&)>& exists,
                                              const std::function<Status(Record&)>& insert) {
  ImportStats stats;
  for (auto& r : records) {
    PT_ASSIGN_OR_RETURN(bool duplicate, exists(r));
    if (duplicate) {
      ++stats.duplicates;
      continue;
    }
    PT_RETURN_IF_ERROR(insert(r));
    ++stats.imported;
  }
  return stats;
}

}  // namespace priortune::db
