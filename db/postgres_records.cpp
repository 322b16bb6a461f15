// PostgresStore (internal/postgres_store_class.h): records, the best configs and their
// fallback ladder, workloads, cost models and cached features.
#include "db/internal/best_ladder.h"
#include "db/internal/postgres_store_class.h"

namespace priortune::db::internal {

using nlohmann::json;

Status PostgresStore::AddRecords(std::vector<Record>& records) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(
      [&]() -> Status {
        for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
        return OkStatus();
      },
      [&] { return Stored(records); });
}

Status PostgresStore::AddRecordsUnderLease(std::vector<Record>& records, const std::string& lease,
                                           const std::string& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction(
      [&]() -> Status {
        PT_ASSIGN_OR_RETURN(Result s, Query("SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND "
                                            "expires > " PT_PG_NOW " FOR SHARE",
                                            {P(lease), P(holder)}));
        if (s.rows() == 0) return Status(StatusCode::kAborted, LeaseLost(lease, holder));
        for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
        return OkStatus();
      },
      [&] { return Stored(records); });
}

StatusOr<std::optional<BestMatch>> PostgresStore::Best(const std::string& workload_key, const std::string& target_key,
                                                       const std::string& isa_family, const BestFilter& filter) {
  return OnFreeConnection([&](PostgresStore& c) { return c.BestLocked(workload_key, target_key, isa_family, filter); });
}

StatusOr<std::vector<Record>> PostgresStore::History(const HistoryQuery& q) {
  return OnFreeConnection([&](PostgresStore& c) { return c.HistoryLocked(q); });
}

StatusOr<bool> PostgresStore::Stored(std::vector<Record>& records) {
  size_t found = 0;
  for (auto& r : records) {
    PT_ASSIGN_OR_RETURN(int64_t id, IdOf(r));
    if (id == 0) continue;
    r.id = id;
    ++found;
  }
  if (found == 0) return false;
  if (found == records.size()) return true;
  return Status(StatusCode::kDataLoss, "postgresql: after a dropped COMMIT, " + std::to_string(found) + " of " +
                                           std::to_string(records.size()) + " records of one batch are stored");
}

StatusOr<int64_t> PostgresStore::Upsert(const char* insert, const char* select, const std::string& key,
                                        const std::string& second, const std::string& json_text) {
  PT_RETURN_IF_ERROR(Query(insert, {P(key), P(second), P(json_text)}).status());
  PT_ASSIGN_OR_RETURN(Result s, Query(select, {P(key)}));
  if (s.rows() == 0) return Internal("upsert lost the row for key " + key);
  return s.Int(0, 0);
}

StatusOr<int64_t> PostgresStore::UpsertWorkload(const Record& r) {
  if (r.workload_key.empty() || r.op.empty()) return InvalidArgument("record without workload key or op");
  return Upsert("INSERT INTO workloads(key, op, json) VALUES($1, $2, $3) ON CONFLICT(key) DO NOTHING",
                "SELECT id FROM workloads WHERE key = $1", r.workload_key, r.op, r.workload_json);
}

StatusOr<int64_t> PostgresStore::UpsertTarget(const Record& r) {
  if (r.target_key.empty()) return InvalidArgument("record without target key");
  return Upsert("INSERT INTO targets(key, isa_family, json) VALUES($1, $2, $3) ON CONFLICT(key) DO NOTHING",
                "SELECT id FROM targets WHERE key = $1", r.target_key, r.isa_family, r.target_json);
}

StatusOr<int64_t> PostgresStore::IdOf(const Record& r) {
  PT_ASSIGN_OR_RETURN(
      Result s,
      Query("SELECT r.id FROM records r JOIN workloads w ON w.id = r.workload_id "
            "JOIN targets t ON t.id = r.target_id WHERE w.key = $1 AND " +
                DollarParams(kTargetKeyOrAlias) + " AND r.config_hash = $3 AND r.worker = $4 AND r.timestamp = $5",
            {P(r.workload_key), P(r.target_key), P(r.config_hash), P(r.worker), P(r.timestamp)}));
  return s.rows() > 0 ? s.Int(0, 0) : 0;
}

StatusOr<bool> PostgresStore::Exists(const Record& r) {
  PT_ASSIGN_OR_RETURN(int64_t id, IdOf(r));
  return id != 0;
}

Status PostgresStore::Insert(Record& r) {
  PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(r));
  PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(r));
  if (r.timestamp == 0) r.timestamp = Now();
  PT_ASSIGN_OR_RETURN(Result s,
                      Query("INSERT INTO records(workload_id, target_id, config, config_hash, costs, cost, error_kind, "
                            "error_message, compile_seconds, worker, job_id, timestamp, template_version) "
                            "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                            {P(workload_id), P(target_id), P(r.config_json), P(r.config_hash), P(json(r.costs).dump()),
                             r.ok() ? P(r.cost()) : Null(), P(std::string(ErrorKindName(r.error))), P(r.error_message),
                             P(r.compile_seconds), P(r.worker), r.job_id > 0 ? P(r.job_id) : Null(), P(r.timestamp),
                             P(static_cast<int64_t>(r.template_version))}));
  r.id = s.Int(0, 0);
  if (!r.ok()) return OkStatus();
  return Query(
             "INSERT INTO best(workload_id, target_id, record_id, cost) VALUES($1, $2, $3, $4) "
             "ON CONFLICT(workload_id, target_id) DO UPDATE SET record_id = EXCLUDED.record_id, "
             "cost = EXCLUDED.cost WHERE EXCLUDED.cost < best.cost",
             {P(workload_id), P(target_id), P(r.id), P(r.cost())})
      .status();
}

StatusOr<std::optional<BestMatch>> PostgresStore::BestLocked(const std::string& workload_key,
                                                             const std::string& target_key,
                                                             const std::string& isa_family, const BestFilter& filter) {
  LadderQueries q;
  q.stored_best = [&]() -> StatusOr<std::optional<Record>> {
    PT_ASSIGN_OR_RETURN(Result s, Query(DollarParams(kStoredBestSql), {P(workload_key), P(target_key)}));
    if (s.rows() == 0) return std::optional<Record>();
    PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, 0));
    return std::optional<Record>(std::move(r));
  };
  q.page = [&](MatchLevel level, const std::string& arg, int limit, int offset) -> StatusOr<std::vector<Record>> {
    std::vector<Param> params = {P(workload_key)};
    if (level != MatchLevel::kAny) params.push_back(P(arg));
    params.push_back(P(int64_t{limit}));
    params.push_back(P(int64_t{offset}));
    PT_ASSIGN_OR_RETURN(Result s, Query(DollarParams(LadderPageSql(level)), params));
    std::vector<Record> out;
    for (int i = 0; i < s.rows(); ++i) {
      PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, i));
      out.push_back(std::move(r));
    }
    return out;
  };
  return LadderBest(q, target_key, isa_family, filter);
}

StatusOr<std::vector<Record>> PostgresStore::HistoryLocked(const HistoryQuery& q) {
  std::string sql = std::string("SELECT ") + kRecordColumns + "WHERE ($1 = '' OR w.key = $1) AND " +
                    DollarParams(kTargetKeyClause) + " AND ($3 = '' OR w.op = $3) AND r.id > $4 ORDER BY r.id";
  if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
  PT_ASSIGN_OR_RETURN(Result s, Query(sql, {P(q.workload_key), P(q.target_key), P(q.op), P(q.after_id)}));
  std::vector<Record> out;
  for (int i = 0; i < s.rows(); ++i) {
    PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, i));
    out.push_back(std::move(r));
  }
  return out;
}

StatusOr<std::vector<WorkloadRow>> PostgresStore::Workloads(int64_t after_id, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql =
      "SELECT w.id, w.key, w.op, w.json, "
      "(SELECT COUNT(*) FROM records r WHERE r.workload_id = w.id), "
      "(SELECT COUNT(DISTINCT r.target_id) FROM records r WHERE r.workload_id = w.id) "
      "FROM workloads w WHERE w.id > $1 ORDER BY w.id";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  PT_ASSIGN_OR_RETURN(Result s, Query(sql, {P(after_id)}));
  std::vector<WorkloadRow> out;
  for (int i = 0; i < s.rows(); ++i)
    out.push_back({s.Int(i, 0), s.Text(i, 1), s.Text(i, 2), s.Text(i, 3), s.Int(i, 4), s.Int(i, 5)});
  return out;
}

StatusOr<int64_t> PostgresStore::AddModel(const ModelRow& m) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t id = 0;
  PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
    PT_ASSIGN_OR_RETURN(
        Result s, Query("INSERT INTO models(kind, feature_version, target_key, training_set, metrics, "
                        "samples, created, blob) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                        {P(m.kind), P(static_cast<int64_t>(m.feature_version)), P(m.target_key), P(m.training_set),
                         P(m.metrics_json), P(m.samples), P(m.created > 0 ? m.created : Now()), Blob(m.blob)}));
    id = s.Int(0, 0);
    return OkStatus();
  }));
  return id;
}

StatusOr<std::vector<ModelRow>> PostgresStore::Models(const ModelQuery& q) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string(
                        "SELECT id, kind, feature_version, target_key, training_set, metrics, samples, "
                        "created, ") +
                    (q.with_blob ? "blob" : "''::bytea") + " FROM models WHERE true";
  std::vector<Param> params;
  auto where = [&](const char* column, Param p) {
    params.push_back(std::move(p));
    sql += std::string(" AND ") + column + " = $" + std::to_string(params.size());
  };
  if (!q.kind.empty()) where("kind", P(q.kind));
  if (!q.target_key.empty()) where("target_key", P(q.target_key));
  if (!q.training_set.empty()) where("training_set", P(q.training_set));
  if (q.id != 0) where("id", P(q.id));
  sql += " ORDER BY id DESC";
  if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
  PT_ASSIGN_OR_RETURN(Result s, Query(sql, params));
  std::vector<ModelRow> out;
  for (int i = 0; i < s.rows(); ++i)
    out.push_back({s.Int(i, 0), s.Text(i, 1), static_cast<int>(s.Int(i, 2)), s.Text(i, 3), s.Text(i, 4), s.Text(i, 5),
                   s.Int(i, 6), s.Real(i, 7), s.Bytes(i, 8)});
  return out;
}

StatusOr<std::unordered_map<int64_t, std::string>> PostgresStore::FeatureBlobs(int feature_version,
                                                                               const std::string& target_key) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("SELECT f.record_id, f.blob FROM record_features f JOIN records r ON "
                                      "r.id = f.record_id JOIN targets t ON t.id = r.target_id WHERE "
                                      "f.feature_version = $1 AND ($2 = '' OR t.key = $2)",
                                      {P(static_cast<int64_t>(feature_version)), P(target_key)}));
  std::unordered_map<int64_t, std::string> out;
  for (int i = 0; i < s.rows(); ++i) out.emplace(s.Int(i, 0), s.Bytes(i, 1));
  return out;
}

Status PostgresStore::AddFeatureBlobs(int feature_version, const std::vector<std::pair<int64_t, std::string>>& blobs) {
  std::lock_guard<std::mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    for (const auto& [id, blob] : blobs)
      PT_RETURN_IF_ERROR(Query("INSERT INTO record_features(record_id, feature_version, blob) VALUES($1, $2, $3) "
                               "ON CONFLICT(record_id, feature_version) DO UPDATE SET blob = EXCLUDED.blob",
                               {P(id), P(static_cast<int64_t>(feature_version)), Blob(blob)})
                             .status());
    return OkStatus();
  });
}

}  // namespace priortune::db::internal
