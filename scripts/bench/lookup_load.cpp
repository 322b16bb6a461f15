// priortune_lookup_load: the Lookup load benchmark of the tuning service (not a test).
//   populate --db PATH --records 100000   a store of real workloads with valid configs
//   run --server ADDR --concurrency N --seconds S [--rate R]
//        N client threads, each on its own channel, call Lookup for random workloads of
//        the store for S seconds: closed loop (each thread waits for its answer, then
//        asks again) unless --rate R asks for R requests/s in all (open loop: latency is
//        counted from the request's scheduled time, so a stalled server is not hidden).
//        Prints one CSV line: concurrency, rate, requests, errors, throughput, p50, p90,
//        p99, max (ms).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "compiler/ops/op_template.h"
#include "compiler/target/target.h"
#include "db/store.h"
#include "proto/priortune.grpc.pb.h"
#include "tuner/measure.h"
#include "tuner/open_store.h"
#include "tuner/search_space.h"

namespace pc = priortune::compiler;
using Clock = std::chrono::steady_clock;

namespace {

// The benchmark's workloads: matmuls of sizes 16..1024 in steps, enough distinct shapes
// for `count`.
std::vector<pc::Workload> Workloads(int count) {
  std::vector<pc::Workload> out;
  for (int m = 16; m <= 1024 && static_cast<int>(out.size()) < count; m += 16)
    for (int n = 16; n <= 1024 && static_cast<int>(out.size()) < count; n += 48)
      for (int k = 16; k <= 1024 && static_cast<int>(out.size()) < count; k += 112)
        out.push_back(pc::MatmulWorkload(m, n, k));
  return out;
}

int Populate(const std::string& db, int records, int workloads, uint64_t seed) {
  auto store = priortune::tuner::OpenStore(db);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 2;
  }
  pc::Target target = pc::Target::HostWithCores(1);
  std::mt19937_64 rng(seed);
  std::vector<pc::Workload> ws = Workloads(workloads);
  int per = records / static_cast<int>(ws.size());
  int64_t added = 0;
  for (const auto& w : ws) {
    auto space = priortune::tuner::SearchSpace::ForWorkload(w, target);
    if (!space.ok()) continue;
    std::vector<priortune::db::Record> batch;
    for (int i = 0; i < per; ++i) {
      auto c = space->Sample(rng);
      if (!c.ok()) break;
      priortune::tuner::Candidate cand{w, target, *c};
      priortune::tuner::MeasureResult r;
      double base = 2.0 * w.dims.at("M") * w.dims.at("N") * w.dims.at("K") / 50e9;
      r.costs = {base * std::uniform_real_distribution<double>(1, 20)(rng)};
      r.worker = "populate";
      batch.push_back(priortune::tuner::ToRecord(cand, r, 0));
    }
    if (auto s = (*store)->AddRecords(batch); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    added += static_cast<int64_t>(batch.size());
  }
  std::printf("populated %s: %lld records of %zu workloads on %s\n", db.c_str(), static_cast<long long>(added),
              ws.size(), target.Describe().c_str());
  return 0;
}

int Run(const std::string& server, int concurrency, double seconds, double rate, int workloads,
        const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    std::ifstream f(token_file);
    std::getline(f, token);
  }
  std::vector<pc::Workload> ws = Workloads(workloads);
  std::vector<priortune::v1::LookupRequest> requests;
  for (const auto& w : ws) {
    priortune::v1::LookupRequest r;
    r.mutable_workload()->set_op(w.op);
    r.mutable_workload()->set_dtype(w.dtype);
    for (const auto& [k, v] : w.dims) (*r.mutable_workload()->mutable_dims())[k] = v;
    r.mutable_target()->set_spec("host");
    r.mutable_target()->set_threads(1);
    requests.push_back(r);
  }
  std::vector<std::vector<double>> latencies(concurrency);
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> misses{0};
  auto start = Clock::now() + std::chrono::milliseconds(200);
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      grpc::ChannelArguments args;
      args.SetInt("priortune.bench.client", t);  // its own connection, as separate clients have
      auto stub = priortune::v1::TuningService::NewStub(
          grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args));
      std::mt19937_64 rng(1000 + t);
      const double interval = rate > 0 ? concurrency / rate : 0;  // seconds between this thread's requests
      auto next = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              interval * std::uniform_real_distribution<double>(0, 1)(rng)));
      // Warm up: connect before the clock starts.
      {
        grpc::ClientContext ctx;
        ctx.set_wait_for_ready(true);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
        priortune::v1::LookupResponse resp;
        stub->Lookup(&ctx, requests[0], &resp);
      }
      std::this_thread::sleep_until(start);
      auto& lat = latencies[t];
      while (true) {
        Clock::time_point scheduled = Clock::now();
        if (rate > 0) {
          std::this_thread::sleep_until(next);  // open loop: the schedule, not the answer, paces us
          scheduled = next;
          next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
        }
        if (scheduled >= end) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
        priortune::v1::LookupResponse resp;
        const auto& req = requests[rng() % requests.size()];
        grpc::Status s = stub->Lookup(&ctx, req, &resp);
        if (!s.ok())
          ++errors;
        else if (resp.level() != "exact target")
          ++misses;
        lat.push_back(std::chrono::duration<double>(Clock::now() - scheduled).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))] * 1e3;
  };
  std::printf("%d,%.0f,%zu,%lld,%lld,%.0f,%.3f,%.3f,%.3f,%.3f\n", concurrency, rate, all.size(),
              static_cast<long long>(errors.load()), static_cast<long long>(misses.load()), all.size() / seconds,
              pct(0.5), pct(0.9), pct(0.99), all.empty() ? 0.0 : all.back() * 1e3);
  return errors.load() > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"priortune_lookup_load: Lookup load on a priortune server"};
  app.require_subcommand(1);
  std::string db, server, token_file;
  int records = 100000, workloads = 500, concurrency = 1;
  double seconds = 10, rate = 0;
  uint64_t seed = 1;
  CLI::App* populate = app.add_subcommand("populate", "fill a store with records of real workloads");
  populate->add_option("--db", db)->required();
  populate->add_option("--records", records);
  populate->add_option("--workloads", workloads);
  populate->add_option("--seed", seed);
  CLI::App* run = app.add_subcommand("run", "call Lookup for a bounded time; one CSV line");
  run->add_option("--server", server)->required();
  run->add_option("--concurrency", concurrency);
  run->add_option("--seconds", seconds);
  run->add_option("--rate", rate, "requests/s in all (open loop); 0: closed loop");
  run->add_option("--workloads", workloads);
  run->add_option("--token-file", token_file);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*populate) return Populate(db, records, workloads, seed);
  if (concurrency < 1 || !(seconds > 0) || rate < 0) {
    std::fprintf(stderr, "--concurrency, --seconds must be positive, --rate >= 0\n");
    return 2;
  }
  return Run(server, concurrency, seconds, rate, workloads, token_file);
}
