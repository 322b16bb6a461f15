#include "server/cli/model_records.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "server/common/targets.h"

namespace priortune::server::cli {

void PrintFeatureStats(const tuner::RecordFeatures& rf, const compiler::Target& target) {
  std::printf("%zu records of %zu workloads on %s (%d records skipped: older template or invalid config)\n",
              rf.data.rows(), rf.workload_keys.size(), target.Describe().c_str(), rf.skipped);
  if (rf.computed > 0) {
    double per = 1e3 / static_cast<double>(rf.computed);
    std::printf(
        "features per candidate: %.3f ms to extract from the loop nest, %.3f ms with lowering (%d "
        "candidates)\n",
        per * rf.extract_seconds, per * rf.lower_seconds, rf.computed);
  }
  if (rf.cached > 0)
    std::printf("features of %d records read from the store's feature cache (%.2f s for all records)\n", rf.cached,
                rf.seconds);
  if (!rf.cache_error.empty()) std::fprintf(stderr, "priortune: %s\n", rf.cache_error.c_str());
}

StatusOr<TargetRecords> RecordsOfTarget(db::Store& store, const std::string& db_path, const std::string& spec,
                                        int threads, const std::string& op) {
  TargetRecords out;
  auto fail_internal = [](const Status& s) { return Status(StatusCode::kInternal, s.message()); };
  std::optional<std::vector<db::Record>> all;  // of every target, when the target is chosen from them
  if (spec.empty()) {
    // The host's records if the store has them, else the target with the most.
    auto host = DeployTarget("host", threads);
    auto history = store.History({"", "", op, 0});
    if (!history.ok()) return fail_internal(history.status());
    all = std::move(history).value();
    std::map<std::string, std::pair<int, std::string>> count;  // key -> (records, target json)
    for (const auto& r : *all) {
      auto& c = count[r.target_key];
      ++c.first;
      c.second = r.target_json;
    }
    if (host.ok() && count.count(host->Key())) {
      out.target = *host;
    } else if (!count.empty()) {
      auto best = std::max_element(count.begin(), count.end(),
                                   [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
      auto t = compiler::Target::FromJson(best->second.second);
      if (!t.ok()) return InvalidArgument("records of target " + best->first + ": " + t.status().message());
      out.target = *t;
      out.note = "the store has no records for this host's target; using target " + t->Key() + " (" + t->Describe() +
                 ", " + std::to_string(t->cores) + " cores), which has the most";
    } else {
      return NotFound("no records" + (op.empty() ? "" : " of " + op) + " in " + db_path);
    }
  } else {
    PT_ASSIGN_OR_RETURN(out.target, DeployTarget(spec, threads));
  }
  if (all) {
    for (auto& r : *all)
      if (r.target_key == out.target.Key()) out.records.push_back(std::move(r));
    return out;  // the chosen target has records
  }
  auto records = store.History({"", out.target.Key(), op, 0});
  if (!records.ok()) return fail_internal(records.status());
  if (records->empty()) {
    auto all = store.History({});
    std::set<std::string> targets;
    if (all.ok())
      for (const auto& r : *all) {
        auto t = compiler::Target::FromJson(r.target_json);
        targets.insert(r.target_key + " (" +
                       (t.ok() ? t->Describe() + ", " + std::to_string(t->cores) + " cores" : "?") + ")");
      }
    std::string list;
    for (const auto& t : targets) list += (list.empty() ? "" : "; ") + t;
    return NotFound("no records" + (op.empty() ? "" : " of " + op) + " for target " + out.target.Key() + " (" +
                    out.target.Describe() + ", " + std::to_string(out.target.cores) + " cores) in " + db_path +
                    (list.empty() ? "" : "; the store has targets " + list));
  }
  out.records = std::move(records).value();
  return out;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Status CheckKs(const std::vector<int>& ks, int repeats) {
  if (ks.empty()) return InvalidArgument("--ks needs at least one k");
  for (int k : ks)
    if (k < 0) return InvalidArgument("--ks: k must be >= 0, got " + std::to_string(k));
  if (repeats < 1) return InvalidArgument("--repeats must be >= 1, got " + std::to_string(repeats));
  return OkStatus();
}

void PrintFewShotHeader() {
  std::printf("  %-26s %4s %6s  %8s %7s %7s %7s %7s\n", "model", "k", "tasks", "pairwise", "tau", "top10", "peak@1",
              "peak@5");
}

void PrintFewShot(const std::string& name, const costmodel::FewShotResult& r, std::ofstream* csv) {
  const auto& m = r.mean;
  std::printf("  %-26s %4d %6d  %8.3f %7.3f %7.3f %7.3f %7.3f\n", name.c_str(), r.k, r.tasks, m.pairwise_accuracy,
              m.kendall_tau, m.top_k_recall, m.peak_at_1, m.peak_at_5);
  if (csv && csv->is_open())
    *csv << name << "," << r.k << "," << r.tasks << "," << m.pairwise_accuracy << "," << m.kendall_tau << ","
         << m.top_k_recall << "," << m.peak_at_1 << "," << m.peak_at_5 << "\n";
}

}  // namespace priortune::server::cli
