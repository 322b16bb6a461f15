// What the SQL store backends share: the record columns they select and reading one
// row of them into a Record, and the import loop. Internal to db/.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

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
  return "lease " + lease + " lost: " + holder +
         " no longer holds it (it expired and another server may have "
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
    return Status(StatusCode::kDataLoss,
                  "record " + std::to_string(r.id) + ": field 'error_kind': " + kind.status().message());
  r.error = *kind;
  r.error_message = s.Text(11);
  r.compile_seconds = s.Real(12);
  r.worker = s.Text(13);
  r.job_id = s.IsNull(14) ? 0 : s.Int(14);
  r.timestamp = s.Real(15);
  r.template_version = static_cast<int>(s.Int(16));
  return r;
}

// The columns ReadJobRow and ReadTaskRow read.
inline constexpr const char* kJobColumns = "id, request, state, created, finished FROM jobs ";
inline constexpr const char* kTaskColumns =
    "k.id, k.job_id, w.key, t.key, k.trials, k.measured, k.state, k.notes FROM tasks k "
    "JOIN workloads w ON w.id = k.workload_id JOIN targets t ON t.id = k.target_id ";

// A stored job or task state; DataLoss naming the row for one we do not know.
inline StatusOr<RunState> ReadState(const std::string& text, const char* what, int64_t id) {
  auto state = ParseState(text);
  if (!state.ok())
    return Status(StatusCode::kDataLoss,
                  std::string(what) + " " + std::to_string(id) + ": field 'state': " + state.status().message());
  return *state;
}

template <class Row>
StatusOr<JobRow> ReadJobRow(const Row& s) {
  JobRow j;
  j.id = s.Int(0);
  j.request_json = s.Text(1);
  PT_ASSIGN_OR_RETURN(j.state, ReadState(s.Text(2), "job", j.id));
  j.created = s.Real(3);
  j.finished = s.IsNull(4) ? 0.0 : s.Real(4);
  return j;
}

template <class Row>
StatusOr<TaskRow> ReadTaskRow(const Row& s) {
  TaskRow t;
  t.id = s.Int(0);
  t.job_id = s.Int(1);
  t.workload_key = s.Text(2);
  t.target_key = s.Text(3);
  t.trials = s.Int(4);
  t.measured = s.Int(5);
  PT_ASSIGN_OR_RETURN(t.state, ReadState(s.Text(6), "task", t.id));
  t.notes = s.Text(7);
  return t;
}

// A stored target that RewriteTargets changes: its row, its key now and its new form.
struct TargetChange {
  int64_t id = 0;
  std::string old_key;
  TargetForm form;
};

// The changes `rewrite` makes to stored targets given as (id, key, json, isa_family).
inline StatusOr<std::vector<TargetChange>> PlanTargetChanges(
    const std::vector<std::tuple<int64_t, std::string, std::string, std::string>>& rows,
    const TargetRewriter& rewrite) {
  std::vector<TargetChange> out;
  for (const auto& [id, key, json_text, isa] : rows) {
    StatusOr<std::optional<TargetForm>> form = rewrite(json_text);
    if (!form.ok()) return Status(form.status().code(), "target " + key + ": " + form.status().message());
    if (!*form) continue;
    const TargetForm& f = **form;
    if (f.key == key && f.json == json_text && f.isa_family == isa) continue;
    out.push_back({id, key, f});
  }
  return out;
}

// RewriteTargets' statements, ?1 = the row's id, ?2 = the id of the row that already has
// the new key: records and tasks move, the faster best of a workload stays, the row goes.
inline constexpr const char* kMergeTargetSql[] = {
    "UPDATE records SET target_id = ?2 WHERE target_id = ?1",
    "UPDATE tasks SET target_id = ?2 WHERE target_id = ?1",
    "DELETE FROM best WHERE target_id = ?1 AND EXISTS (SELECT 1 FROM best b WHERE b.target_id = ?2 AND "
    "b.workload_id = best.workload_id AND b.cost <= best.cost)",
    "DELETE FROM best WHERE target_id = ?2 AND workload_id IN (SELECT workload_id FROM best WHERE target_id = ?1)",
    "UPDATE best SET target_id = ?2 WHERE target_id = ?1",
    "DELETE FROM targets WHERE id = ?1 AND id <> ?2",
};
// ?1 = the old key, ?2 = the new key: models follow, aliases point at the new key (also
// those that pointed at the old one).
inline constexpr const char* kRekeySql[] = {
    "UPDATE models SET target_key = ?2 WHERE target_key = ?1",
    "UPDATE target_aliases SET key = ?2 WHERE key = ?1",
    "INSERT INTO target_aliases(old_key, key) VALUES(?1, ?2) ON CONFLICT(old_key) DO UPDATE SET key = excluded.key",
};
// The target t is the one keyed ?2, or the one that key was renamed to.
#define PT_TARGET_KEY_OR_ALIAS "t.key = ?2 OR t.key IN (SELECT key FROM target_aliases WHERE old_key = ?2)"
inline constexpr const char* kTargetKeyOrAlias = "(" PT_TARGET_KEY_OR_ALIAS ")";
// History's target clause: any target when ?2 is empty.
inline constexpr const char* kTargetKeyClause = "(?2 = '' OR " PT_TARGET_KEY_OR_ALIAS ")";
#undef PT_TARGET_KEY_OR_ALIAS

// `sql` with ?N placeholders spelt $N (PostgreSQL's).
inline std::string DollarParams(std::string sql) {
  for (auto& c : sql)
    if (c == '?') c = '$';
  return sql;
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
