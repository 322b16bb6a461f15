#include "server/service/job_request.h"

#include <nlohmann/json.hpp>

namespace priortune::server {

using nlohmann::json;

namespace {

constexpr std::pair<JobOrigin, const char*> kOrigins[] = {
    {JobOrigin::kService, "service"}, {JobOrigin::kTune, "tune"}, {JobOrigin::kTuneModel, "tune-model"}};

Status Lost(const std::string& field, const std::string& why) {
  return Status(StatusCode::kDataLoss, "stored job request: field '" + field + "': " + why);
}

StatusOr<JobOrigin> OriginOf(const json& j) {
  if (!j.contains("origin")) {  // rows of older versions
    if (j.value("service", 0) == 1) return JobOrigin::kService;
    return j.contains("model") ? JobOrigin::kTuneModel : JobOrigin::kTune;
  }
  if (!j["origin"].is_string()) return Lost("origin", "not a string");
  for (const auto& [origin, name] : kOrigins)
    if (j["origin"] == name) return origin;
  return Lost("origin", "unknown origin " + j["origin"].dump());
}

StatusOr<std::vector<compiler::Workload>> WorkloadsOf(const json& j) {
  std::vector<compiler::Workload> out;
  json list = j.contains("workloads") ? j["workloads"] : json::array();
  if (j.contains("workload")) list.push_back(j["workload"]);  // an older tune job's
  if (!list.is_array()) return Lost("workloads", "not an array");
  for (size_t i = 0; i < list.size(); ++i) {
    auto w = compiler::Workload::FromJson(list[i].dump());
    if (!w.ok()) return Lost("workloads[" + std::to_string(i) + "]", w.status().message());
    out.push_back(*w);
  }
  return out;
}

}  // namespace

const char* OriginName(JobOrigin o) {
  for (const auto& [origin, name] : kOrigins)
    if (origin == o) return name;
  return "?";
}

std::string JobRequestJson(const JobRequest& r, const compiler::Target& target) {
  json workloads = json::array();
  for (const auto& w : r.workloads) workloads.push_back(json::parse(w.ToJson()));
  json j = {{"origin", OriginName(r.origin)},
            {"name", r.name},
            {"client", r.client},
            {"priority", r.priority},
            {"target_spec", r.target_spec},
            {"threads", r.threads},
            {"target", json::parse(target.ToJson())},
            {"workloads", workloads},
            {"trials", r.tune.trials},
            {"strategy", tuner::StrategyName(r.tune.strategy)},
            {"strategy_note", r.strategy_note},
            {"batch_size", r.tune.batch_size},
            {"seed", r.tune.seed},
            {"worker_deadline_seconds", r.worker_deadline_seconds}};
  if (!r.model.empty()) j["model"] = r.model;
  // Servers before the origin field look for this mark (several may share a PostgreSQL store).
  if (r.origin == JobOrigin::kService) j["service"] = 1;
  return j.dump();
}

StatusOr<std::pair<JobRequest, compiler::Target>> ParseJobRequest(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Lost("(all)", "not a JSON object");
  if (!j.contains("target")) return Lost("target", "missing");
  auto target = compiler::Target::FromJson(j["target"].dump());
  if (!target.ok()) return Lost("target", target.status().message());
  JobRequest r;
  try {
    PT_ASSIGN_OR_RETURN(r.origin, OriginOf(j));
    PT_ASSIGN_OR_RETURN(r.workloads, WorkloadsOf(j));
    r.model = j.value("model", r.model);
    r.name = j.value("name", r.name);
    r.client = j.value("client", r.client);
    r.priority = j.value("priority", r.priority);
    r.target_spec = j.value("target_spec", r.target_spec);
    r.threads = j.value("threads", r.threads);
    r.tune.trials = j.value("trials", r.tune.trials);
    r.strategy_note = j.value("strategy_note", r.strategy_note);
    r.tune.batch_size = j.value("batch_size", r.tune.batch_size);
    r.tune.seed = j.value("seed", r.tune.seed);
    r.worker_deadline_seconds = j.value("worker_deadline_seconds", r.worker_deadline_seconds);
    if (j.contains("strategy")) {
      auto s = tuner::ParseStrategy(j["strategy"].get<std::string>());
      if (!s.ok()) return Lost("strategy", s.status().message());
      r.tune.strategy = *s;
    }
  } catch (const json::exception& e) {  // a field of the wrong type
    return Lost("(a field)", e.what());
  }
  return std::make_pair(std::move(r), std::move(*target));
}

}  // namespace priortune::server
