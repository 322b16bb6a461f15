#include "server/common/convert.h"

namespace priortune::server {

void ToProto(const compiler::Workload& w, v1::Workload* out) {
  out->set_op(w.op);
  for (const auto& [name, value] : w.dims) (*out->mutable_dims())[name] = value;
  out->set_dtype(w.dtype);
  out->set_bias(w.bias);
  out->set_relu(w.relu);
  out->set_residual(w.residual);
  out->set_relu6(w.relu6);
  out->set_silu(w.silu);
  out->set_hardswish(w.hardswish);
  out->set_gelu(w.gelu);
  out->set_gelu_tanh(w.gelu_tanh);
}

compiler::Workload FromProto(const v1::Workload& w) {
  compiler::Workload out;
  out.op = w.op();
  for (const auto& [name, value] : w.dims()) out.dims[name] = value;
  out.dtype = w.dtype().empty() ? "float32" : w.dtype();
  out.bias = w.bias();
  out.relu = w.relu();
  out.residual = w.residual();
  out.relu6 = w.relu6();
  out.silu = w.silu();
  out.hardswish = w.hardswish();
  out.gelu = w.gelu();
  out.gelu_tanh = w.gelu_tanh();
  return out;
}

void ToProto(const compiler::Target& t, v1::Target* out) {
  out->set_arch(t.arch);
  out->set_cpu(t.cpu);
  for (const auto& f : t.features) out->add_features(f);
  out->set_cores(t.cores);
  out->set_vector_bits(t.vector_bits);
  out->set_vector_registers(t.vector_registers);
  out->set_fma_units(t.fma_units);
  out->set_l1d_bytes(t.l1d_bytes);
  out->set_l2_bytes(t.l2_bytes);
  out->set_l3_bytes(t.l3_bytes);
  out->set_microarch(t.microarch);
  if (t.stack_bytes != compiler::Target::kDefaultStackBytes) out->set_stack_bytes(t.stack_bytes);
}

compiler::Target FromProto(const v1::Target& t) {
  compiler::Target out;
  out.arch = t.arch();
  out.cpu = t.cpu();
  out.features.assign(t.features().begin(), t.features().end());
  out.cores = t.cores();
  out.vector_bits = t.vector_bits();
  out.vector_registers = t.vector_registers();
  out.fma_units = t.fma_units();
  out.l1d_bytes = t.l1d_bytes();
  out.l2_bytes = t.l2_bytes();
  out.l3_bytes = t.l3_bytes();
  out.microarch = t.microarch();
  if (t.stack_bytes() > 0) out.stack_bytes = t.stack_bytes();
  return out;
}

void ToProto(const compiler::Config& c, v1::Config* out) {
  for (const auto& [name, value] : c) (*out->mutable_knobs())[name] = value;
}

compiler::Config FromProto(const v1::Config& c) {
  compiler::Config out;
  for (const auto& [name, value] : c.knobs()) out[name] = value;
  return out;
}

void ToProto(const tuner::MeasureResult& r, v1::MeasureResult* out) {
  for (double c : r.costs) out->add_costs(c);
  out->set_error(static_cast<v1::ErrorKind>(r.error));
  out->set_error_message(r.error_message);
  out->set_compile_seconds(r.compile_seconds);
  out->set_worker(r.worker);
}

tuner::MeasureResult FromProto(const v1::MeasureResult& r) {
  tuner::MeasureResult out;
  out.costs.assign(r.costs().begin(), r.costs().end());
  int kind = r.error();
  // An unknown kind from a newer worker is a runtime error, never a success.
  out.error = kind >= 0 && kind <= static_cast<int>(db::ErrorKind::kWorkerLost) ? static_cast<db::ErrorKind>(kind)
                                                                                : db::ErrorKind::kRuntimeError;
  out.error_message = r.error_message();
  out.compile_seconds = r.compile_seconds();
  out.worker = r.worker();
  return out;
}

std::string StateToProto(db::RunState s) { return db::StateName(s); }

StatusOr<std::optional<db::RunState>> StateFilterFromProto(const std::string& state) {
  if (state.empty()) return std::optional<db::RunState>();
  auto parsed = db::ParseState(state);
  if (!parsed.ok()) return InvalidArgument("state: " + parsed.status().message());
  return std::optional<db::RunState>(*parsed);
}

StatusOr<db::RunState> StateFromProto(const std::string& state) {
  auto parsed = db::ParseState(state);
  if (!parsed.ok()) return Status(StatusCode::kDataLoss, "state: " + parsed.status().message());
  return *parsed;
}

std::string StrategyToProto(tuner::Strategy s) { return tuner::StrategyName(s); }

StatusOr<std::optional<tuner::Strategy>> StrategyFromProto(const std::string& strategy, const std::string& cost_model) {
  if (strategy.empty() && cost_model.empty()) return std::optional<tuner::Strategy>();
  tuner::Strategy s = tuner::Strategy::kGa;
  if (!strategy.empty()) {
    auto parsed = tuner::ParseStrategy(strategy);
    if (!parsed.ok()) return InvalidArgument("strategy: " + parsed.status().message());
    s = *parsed;
  }
  if (cost_model.empty()) return std::optional<tuner::Strategy>(s);
  PT_ASSIGN_OR_RETURN(tuner::CostModelKind model, tuner::ParseCostModel(cost_model));
  PT_ASSIGN_OR_RETURN(tuner::Strategy combined, tuner::WithCostModel(s, model));
  return std::optional<tuner::Strategy>(combined);
}

}  // namespace priortune::server

static_assert(priortune::v1::NONE == static_cast<int>(priortune::db::ErrorKind::kNone) &&
                  priortune::v1::WRONG_ANSWER == static_cast<int>(priortune::db::ErrorKind::kWrongAnswer) &&
                  priortune::v1::TIMEOUT == static_cast<int>(priortune::db::ErrorKind::kTimeout) &&
                  priortune::v1::WORKER_LOST == static_cast<int>(priortune::db::ErrorKind::kWorkerLost),
              "proto ErrorKind numbers follow db::ErrorKind");
