// PostgresStore (internal/postgres_store_class.h): jobs, tasks and the leases servers
// sharing the store divide the work by.
#include "db/internal/postgres_store_class.h"

namespace priortune::db::internal {

using nlohmann::json;

StatusOr<bool> PostgresStore::AcquireLease(const std::string& name, const std::string& holder, double ttl_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("INSERT INTO leases(name, holder, expires) VALUES($1, $2, " PT_PG_NOW
                                      " + $3) ON CONFLICT(name) DO UPDATE SET holder = EXCLUDED.holder, "
                                      "expires = EXCLUDED.expires WHERE leases.holder = EXCLUDED.holder OR "
                                      "leases.expires <= " PT_PG_NOW,
                                      {P(name), P(holder), P(ttl_seconds)}));
  return s.changed() > 0;
}

StatusOr<std::vector<std::string>> PostgresStore::RenewLeases(const std::string& holder, double ttl_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE leases SET expires = " PT_PG_NOW " + $2 WHERE holder = $1 "
                                      "RETURNING name",
                                      {P(holder), P(ttl_seconds)}));
  std::vector<std::string> out;
  for (int i = 0; i < s.rows(); ++i) out.push_back(s.Text(i, 0));
  std::sort(out.begin(), out.end());
  return out;
}

Status PostgresStore::ReleaseLease(const std::string& name, const std::string& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  return Query("DELETE FROM leases WHERE name = $1 AND holder = $2", {P(name), P(holder)}).status();
}

Status PostgresStore::DropLeases(const std::string& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  return Query("DELETE FROM leases WHERE $1 = '' OR holder = $1", {P(holder)}).status();
}

StatusOr<std::vector<LeaseRow>> PostgresStore::Leases(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("SELECT name, holder, expires, expires <= " PT_PG_NOW " FROM leases "
                                      "WHERE left(name, length($1)) = $1 ORDER BY name",
                                      {P(prefix)}));
  std::vector<LeaseRow> out;
  for (int i = 0; i < s.rows(); ++i) out.push_back({s.Text(i, 0), s.Text(i, 1), s.Real(i, 2), s.Text(i, 3) == "t"});
  return out;
}

StatusOr<int64_t> PostgresStore::CreateJob(const std::string& request_json) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t id = 0;
  PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
    PT_ASSIGN_OR_RETURN(Result s, Query("INSERT INTO jobs(request, state, created) VALUES($1, $3, $2) "
                                        "RETURNING id",
                                        {P(request_json), P(Now()), P(StateName(JobState::kRunning))}));
    id = s.Int(0, 0);
    return OkStatus();
  }));
  return id;
}

Status PostgresStore::FinishJob(int64_t job_id, JobState state) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE jobs SET state = $1, finished = $2 WHERE id = $3",
                                      {P(StateName(state)), P(Now()), P(job_id)}));
  if (s.changed() == 0) return NotFound("no job " + std::to_string(job_id));
  return OkStatus();
}

StatusOr<int64_t> PostgresStore::CreateTask(int64_t job_id, const Record& wt, int64_t trials) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t id = 0;
  PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
    PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(wt));
    PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(wt));
    PT_ASSIGN_OR_RETURN(Result s,
                        Query("INSERT INTO tasks(job_id, workload_id, target_id, trials, state) "
                              "VALUES($1, $2, $3, $4, $5) RETURNING id",
                              {P(job_id), P(workload_id), P(target_id), P(trials), P(StateName(TaskState::kRunning))}));
    id = s.Int(0, 0);
    return OkStatus();
  }));
  return id;
}

Status PostgresStore::FinishTask(int64_t task_id, TaskState state, int64_t measured) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE tasks SET state = $1, measured = $2 WHERE id = $3",
                                      {P(StateName(state)), P(measured), P(task_id)}));
  if (s.changed() == 0) return NotFound("no task " + std::to_string(task_id));
  return OkStatus();
}

Status PostgresStore::AnnotateTask(int64_t task_id, const std::string& notes) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE tasks SET notes = $1 WHERE id = $2", {P(notes), P(task_id)}));
  if (s.changed() == 0) return NotFound("no task " + std::to_string(task_id));
  return OkStatus();
}

StatusOr<JobRow> PostgresStore::GetJob(int64_t job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query(std::string("SELECT ") + kJobColumns + "WHERE id = $1", {P(job_id)}));
  if (s.rows() == 0) return NotFound("no job " + std::to_string(job_id));
  return ReadJobRow(RowOf{s, 0});
}

StatusOr<std::vector<JobRow>> PostgresStore::Jobs(std::optional<JobState> state) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s, Query(std::string("SELECT ") + kJobColumns + "WHERE $1 = '' OR state = $1 ORDER BY id",
                                      {P(state ? StateName(*state) : "")}));
  std::vector<JobRow> out;
  for (int i = 0; i < s.rows(); ++i) {
    PT_ASSIGN_OR_RETURN(JobRow row, ReadJobRow(RowOf{s, i}));
    out.push_back(std::move(row));
  }
  return out;
}

StatusOr<std::vector<TaskRow>> PostgresStore::TasksOfJob(int64_t job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(Result s,
                      Query(std::string("SELECT ") + kTaskColumns + "WHERE k.job_id = $1 ORDER BY k.id", {P(job_id)}));
  std::vector<TaskRow> out;
  for (int i = 0; i < s.rows(); ++i) {
    PT_ASSIGN_OR_RETURN(TaskRow row, ReadTaskRow(RowOf{s, i}));
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace priortune::db::internal
