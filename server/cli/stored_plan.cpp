#include "server/cli/stored_plan.h"

#include <cstdio>
#include <map>
#include <memory>

#include "db/store.h"
#include "server/common/targets.h"
#include "tuner/db_config_source.h"
#include "tuner/open_store.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

StatusOr<pc::ModelPlan> PlanWithStore(const pc::Graph& graph, const pc::Target& target, const std::string& path,
                                      const std::string& layouts) {
  if (layouts != "nchwc" && layouts != "nchw")
    return InvalidArgument("--layouts is nchwc or nchw, not '" + layouts + "'");
  pc::PlanOptions options;
  options.propagate_layouts = layouts == "nchwc";
  if (path.empty()) {
    pc::NoConfigSource none;
    return pc::PlanModel(graph, target, none, options);
  }
  if (!db::StoreExists(path)) return NotFound("no store at '" + path + "'");
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, tuner::OpenStore(path));
  // A config never measured for its workload and target is checked before it is used.
  return pc::PlanModel(graph, target, *tuner::MakeDbConfigSource(*store, /*nearest_shape=*/true, pc::CheckBeforeUse),
                       options);
}

namespace {

// How many of `tasks` the store holds records of on `spec`'s target at each thread count
// (a target differs from another only in cores = threads): the counts a model was tuned
// at.
StatusOr<std::map<int, int>> TunedThreadCounts(db::Store& store, const std::vector<pc::GraphTask>& tasks,
                                               const std::string& spec) {
  std::map<std::string, int> cores_of_key;  // target key -> threads, -1: another target
  std::map<int, int> tasks_at;
  for (const auto& t : tasks) {
    PT_ASSIGN_OR_RETURN(std::vector<db::Record> records, store.History({t.workload.Key(), "", "", 0}));
    std::set<int> counts;
    for (const auto& r : records) {
      auto it = cores_of_key.find(r.target_key);
      if (it == cores_of_key.end()) {
        int cores = -1;
        if (auto rt = pc::Target::FromJson(r.target_json); rt.ok())
          if (auto mine = DeployTarget(spec, rt->cores); mine.ok() && mine->IsKey(r.target_key)) cores = rt->cores;
        it = cores_of_key.emplace(r.target_key, cores).first;
      }
      if (it->second > 0) counts.insert(it->second);
    }
    for (int c : counts) ++tasks_at[c];
  }
  return tasks_at;
}

}  // namespace

StatusOr<int> ModelThreads(const std::string& command, const std::string& model, const pc::Graph& graph,
                           const std::string& db_path, const std::string& spec, int given) {
  if (given < 0) return InvalidArgument(command + ": --threads must be at least 1, got " + std::to_string(given));
  if (db_path.empty() || !db::StoreExists(db_path)) return given > 0 ? given : 1;
  const std::vector<pc::GraphTask> tasks = pc::ExtractTasks(graph);
  if (tasks.empty()) return given > 0 ? given : 1;
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, tuner::OpenStore(db_path));
  PT_ASSIGN_OR_RETURN(auto tasks_at, TunedThreadCounts(*store, tasks, spec));
  auto counts = [&] {
    std::string s;
    for (const auto& [n, k] : tasks_at)
      if (n != given)
        s += (s.empty() ? "" : ", ") + std::to_string(k) + " at " + std::to_string(n) + " thread" + (n == 1 ? "" : "s");
    return s;
  };
  const int total = static_cast<int>(tasks.size());
  if (given == 0) {
    int pick = 1, most = 0;
    for (const auto& [n, k] : tasks_at)
      if (k > most) pick = n, most = k;
    if (most > 0)
      std::fprintf(stderr,
                   "priortune: %s: %d thread%s, the count the store tuned this model at (%d of %d tasks; "
                   "--threads to choose)\n",
                   command.c_str(), pick, pick == 1 ? "" : "s", most, total);
    given = pick;
  }
  const int here = tasks_at.count(given) ? tasks_at[given] : 0;
  if (here < total) {
    std::string tune = "priortune tune-model " + model + " --db " + db_path +
                       (spec == "host" ? "" : " --target '" + spec + "'") + " --threads " + std::to_string(given);
    std::fprintf(stderr,
                 "priortune: %s: the store tuned %d of this model's %d tasks at %d thread%s%s; the others take "
                 "configs measured at another thread count or hand-picked ones. To tune them for %d thread%s: %s\n",
                 command.c_str(), here, total, given, given == 1 ? "" : "s",
                 counts().empty() ? "" : (" (it holds " + counts() + ")").c_str(), given, given == 1 ? "" : "s",
                 tune.c_str());
  }
  return given;
}

// "layouts: 14 of 40 activations kept in NCHWc between kernels".
void PrintLayouts(const pc::ModelPlan& plan) {
  int activations = 0;
  for (const auto& b : plan.buffers) activations += !b.constant && b.view_of < 0;
  std::printf("layouts: %d of %d activations kept in NCHWc between kernels\n", plan.blocked_buffers, activations);
}

}  // namespace priortune::server::cli
