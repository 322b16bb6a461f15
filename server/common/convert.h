// Conversions between the wire messages of priortune.proto and the C++ types, in one
// place at the server's edge. Includes the generated protobuf header: server/ .cpp only.
#pragma once

#include <optional>
#include <string>

#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "db/run_state.h"
#include "proto/priortune.pb.h"
#include "tuner/measure.h"
#include "tuner/strategy.h"

namespace priortune::server {

// The worker protocol (Hello.protocol). 2: targets carry their microarchitecture; 3:
// workloads may carry a GELU epilogue (Workload.gelu, gelu_tanh), which an older worker
// would drop without a word and build another kernel. The server refuses workers below
// kMinWorkerProtocol.
inline constexpr int kWorkerProtocol = 3;
inline constexpr int kMinWorkerProtocol = 3;

void ToProto(const compiler::Workload& w, v1::Workload* out);
compiler::Workload FromProto(const v1::Workload& w);
void ToProto(const compiler::Target& t, v1::Target* out);
compiler::Target FromProto(const v1::Target& t);
void ToProto(const compiler::Config& c, v1::Config* out);
compiler::Config FromProto(const v1::Config& c);
void ToProto(const tuner::MeasureResult& r, v1::MeasureResult* out);
tuner::MeasureResult FromProto(const v1::MeasureResult& r);

// Job and task states travel as their names (JobStatus.state, TaskStatus.state).
std::string StateToProto(db::RunState s);
// ListJobsRequest.state: "" is every state (nullopt); InvalidArgument naming the field
// for an unknown one.
StatusOr<std::optional<db::RunState>> StateFilterFromProto(const std::string& state);
// JobStatus.state, TaskStatus.state as a client reads them: DataLoss for one this client
// does not know (a newer server).
StatusOr<db::RunState> StateFromProto(const std::string& state);

// SubmitJobResponse.strategy, JobStatus.strategy.
std::string StrategyToProto(tuner::Strategy s);
// SubmitJobRequest's strategy and cost_model: both empty is nullopt (the server picks);
// a cost model alone goes with ga (xgboost: xgb-ga, neural: meta-ga); a strategy must
// fit its model. InvalidArgument naming the field otherwise.
StatusOr<std::optional<tuner::Strategy>> StrategyFromProto(const std::string& strategy, const std::string& cost_model);

}  // namespace priortune::server
