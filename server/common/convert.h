// Conversions between the wire messages of priortune.proto and the C++ types, in one
// place at the server's edge. Includes the generated protobuf header: server/ .cpp only.
#pragma once

#include "compiler/target/target.h"
#include "compiler/ops/workload.h"
#include "proto/priortune.pb.h"
#include "tuner/measure.h"

namespace priortune::server {

// The worker protocol (Hello.protocol). 2: targets carry their microarchitecture; the
// server refuses workers below kMinWorkerProtocol.
inline constexpr int kWorkerProtocol = 2;
inline constexpr int kMinWorkerProtocol = 2;

void ToProto(const compiler::Workload& w, v1::Workload* out);
compiler::Workload FromProto(const v1::Workload& w);
void ToProto(const compiler::Target& t, v1::Target* out);
compiler::Target FromProto(const v1::Target& t);
void ToProto(const compiler::Config& c, v1::Config* out);
compiler::Config FromProto(const v1::Config& c);
void ToProto(const tuner::MeasureResult& r, v1::MeasureResult* out);
tuner::MeasureResult FromProto(const v1::MeasureResult& r);

}  // namespace priortune::server
