// The JSON-lines log (Store::Export / Import), shared by the store backends.
#include "db/log_format.h"

#include <cmath>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>

namespace priortune::db {
namespace {

using nlohmann::json;

json RecordToJson(const Record& r) {
  json j;
  j["workload"] = json::parse(r.workload_json, nullptr, false);
  j["workload_key"] = r.workload_key;
  j["op"] = r.op;
  j["target"] = json::parse(r.target_json, nullptr, false);
  j["target_key"] = r.target_key;
  j["isa_family"] = r.isa_family;
  j["config"] = json::parse(r.config_json, nullptr, false);
  j["config_hash"] = r.config_hash;
  j["template_version"] = r.template_version;
  j["costs"] = r.costs;
  j["error"] = {{"kind", ErrorKindName(r.error)}, {"message", r.error_message}};
  j["compile_seconds"] = r.compile_seconds;
  j["worker"] = r.worker;
  j["timestamp"] = r.timestamp;
  return j;
}

// Reads one log line into a record; InvalidArgument "field 'F': ..." when a field is
// missing or has the wrong type.
Status RecordFromJson(const json& j, Record& r) {
  if (!j.is_object()) return InvalidArgument("expected a JSON object");
  auto field = [&](const char* name, json::value_t type, const char* what) -> StatusOr<const json*> {
    auto it = j.find(name);
    bool ok = it != j.end() && (it->type() == type || (type == json::value_t::number_float && it->is_number()));
    if (!ok) return InvalidArgument(std::string("field '") + name + "': expected " + what);
    return &*it;
  };
  auto text = [&](const char* name, std::string& out) -> Status {
    PT_ASSIGN_OR_RETURN(const json* v, field(name, json::value_t::string, "a string"));
    out = v->get<std::string>();
    if (out.empty()) return InvalidArgument(std::string("field '") + name + "': empty");
    return OkStatus();
  };
  auto object = [&](const char* name, std::string& out) -> Status {
    PT_ASSIGN_OR_RETURN(const json* v, field(name, json::value_t::object, "an object"));
    out = v->dump();
    return OkStatus();
  };
  auto number = [&](const char* name, double& out) -> Status {
    PT_ASSIGN_OR_RETURN(const json* v, field(name, json::value_t::number_float, "a number"));
    out = v->get<double>();
    if (!std::isfinite(out) || out < 0)
      return InvalidArgument(std::string("field '") + name + "': expected a number >= 0");
    return OkStatus();
  };
  PT_RETURN_IF_ERROR(object("workload", r.workload_json));
  PT_RETURN_IF_ERROR(text("workload_key", r.workload_key));
  PT_RETURN_IF_ERROR(text("op", r.op));
  PT_RETURN_IF_ERROR(object("target", r.target_json));
  PT_RETURN_IF_ERROR(text("target_key", r.target_key));
  PT_RETURN_IF_ERROR(text("isa_family", r.isa_family));
  PT_RETURN_IF_ERROR(object("config", r.config_json));
  PT_RETURN_IF_ERROR(text("config_hash", r.config_hash));
  if (auto v = j.find("template_version"); v != j.end()) {  // absent in logs from before versions: 1
    if (!v->is_number_integer() || v->get<int64_t>() < 1)
      return InvalidArgument("field 'template_version': expected an integer >= 1");
    r.template_version = v->get<int>();
  }
  PT_ASSIGN_OR_RETURN(const json* costs, field("costs", json::value_t::array, "an array of numbers"));
  for (const auto& c : *costs) {
    if (!c.is_number() || !std::isfinite(c.get<double>()) || c.get<double>() <= 0)
      return InvalidArgument("field 'costs': expected an array of positive numbers");
    r.costs.push_back(c.get<double>());
  }
  PT_ASSIGN_OR_RETURN(const json* error, field("error", json::value_t::object, "an object"));
  auto kind = error->find("kind");
  if (kind == error->end() || !kind->is_string()) return InvalidArgument("field 'error.kind': expected a string");
  auto parsed = ErrorKindFromName(kind->get<std::string>());
  if (!parsed.ok()) return InvalidArgument("field 'error.kind': " + parsed.status().message());
  r.error = *parsed;
  auto message = error->find("message");
  if (message != error->end() && message->is_string()) r.error_message = message->get<std::string>();
  if (r.error == ErrorKind::kNone && r.costs.empty())
    return InvalidArgument("field 'costs': a record without error needs at least one cost");
  PT_RETURN_IF_ERROR(number("compile_seconds", r.compile_seconds));
  PT_RETURN_IF_ERROR(text("worker", r.worker));
  PT_RETURN_IF_ERROR(number("timestamp", r.timestamp));
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<Record>> ReadLog(std::istream& in, const RecordCheck& check) {
  std::vector<Record> records;
  std::string line;
  int64_t number = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto at = [&](const std::string& m) { return InvalidArgument("line " + std::to_string(number) + ": " + m); };
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return at("not valid JSON");
    if (!header) {
      if (!j.is_object() || j.value("format", "") != "priortune-log")
        return at("field 'format': expected the header {\"format\":\"priortune-log\",...}");
      if (!j.contains("version") || !j["version"].is_number_integer())
        return at("field 'version': expected an integer");
      int version = j["version"].get<int>();
      if (version < 1 || version > kLogFormatVersion)
        return at("field 'version': log version " + std::to_string(version) +
                  " is not supported (this build reads 1.." + std::to_string(kLogFormatVersion) + ")");
      header = true;
      continue;
    }
    Record r;
    Status s = RecordFromJson(j, r);
    if (s.ok() && check) s = check(r);
    if (!s.ok()) return at(s.message());
    records.push_back(std::move(r));
  }
  if (in.bad()) return Internal("import: read failed");
  if (!header) return InvalidArgument("line 1: empty log (no header)");

  return records;
}

Status WriteLog(std::ostream& out, const std::vector<Record>& records) {
  out << json{{"format", "priortune-log"}, {"version", kLogFormatVersion}}.dump() << "\n";
  for (const auto& r : records) out << RecordToJson(r).dump() << "\n";
  out.flush();
  if (!out) return Internal("export: write failed");
  return OkStatus();
}

}  // namespace priortune::db
