// priortune_bench: every shape of shared/bench-suite.md, priortune's hand-picked config
// beside OpenBLAS, oneDNN (plain and blocked) and a naive loop nest, 1 and 2 threads, in
// one run. Prints a table of median GFLOPS and writes CSV (one row per shape, threads,
// implementation: median/min/max ms). Also reports the median JIT compile time of one
// matmul kernel and the FMA peak probe of the host (each row's share of the physical limit).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "compiler/codegen/runtime.h"
#include "compiler/ops/build.h"
#include "compiler/support/timing.h"
#include "db/store.h"
#include "peers.h"
#include "tuner/db_config_source.h"
#include "tuner/open_store.h"

namespace pc = priortune::compiler;

namespace {

struct Case {
  std::string name;
  bool conv;
  bench::GemmShape g;
  bench::ConvShape c;
  bool depthwise() const { return conv && c.groups > 1; }
};

std::vector<Case> Suite() {
  std::vector<Case> v;
  auto gemm = [&](const char* n, int64_t m, int64_t nn, int64_t k) { v.push_back({n, false, {m, nn, k}, {}}); };
  auto conv = [&](const char* n, int64_t c, int64_t o, int64_t h, int64_t k, int64_t s, int64_t p) {
    v.push_back({n, true, {}, {c, o, h, k, s, p}});
  };
  gemm("square-1024", 1024, 1024, 1024);
  gemm("square-512", 512, 512, 512);
  gemm("bert-ffn1", 128, 3072, 768);
  gemm("bert-ffn2", 128, 768, 3072);
  gemm("bert-proj", 128, 768, 768);
  gemm("fc-1000", 1, 1000, 512);
  gemm("gemv-3072", 1, 3072, 768);
  gemm("small-64", 64, 64, 64);
  conv("r18-c1", 3, 64, 224, 7, 2, 3);
  conv("r18-c2", 64, 64, 56, 3, 1, 1);
  conv("r18-c3", 64, 128, 56, 3, 2, 1);
  conv("r18-c4", 128, 128, 28, 3, 1, 1);
  conv("r18-c5", 256, 256, 14, 3, 1, 1);
  conv("r18-c6", 512, 512, 7, 3, 1, 1);
  conv("r18-ds", 64, 128, 56, 1, 2, 0);
  auto dw = [&](const char* n, int64_t c, int64_t h, int64_t k, int64_t s, int64_t p) {
    v.push_back({n, true, {}, {c, c, h, k, s, p, c}});
  };
  dw("mbv2-dw-a", 32, 112, 3, 1, 1);
  dw("mbv2-dw-b", 96, 112, 3, 2, 1);
  dw("mbv2-dw-c", 576, 14, 3, 1, 1);
  return v;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

double MaxRelDiff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i)
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]) / std::max(1.0, std::fabs(static_cast<double>(b[i]))));
  return m;
}

struct BenchOptions {
  std::string only, threads_list = "1,2", csv_path = "bench-results/bench.csv", db_path;
  int repeat = 5;
  double min_repeat_ms = 100;
  bool skip_naive = false, list = false;
};

// The suite as 'name op shape' lines (priortune tune's --shape).
void PrintSuite(const std::vector<std::string>& wanted) {
  for (const Case& cs : Suite()) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), cs.name) == wanted.end()) continue;
    if (cs.depthwise())
      std::printf("%s depthwise_conv2d %lldx%lldx%lldx%lldx%lld\n", cs.name.c_str(), (long long)cs.c.c,
                  (long long)cs.c.h, (long long)cs.c.k, (long long)cs.c.s, (long long)cs.c.p);
    else if (cs.conv)
      std::printf("%s conv2d %lldx%lldx%lldx%lldx%lldx%lld\n", cs.name.c_str(), (long long)cs.c.c, (long long)cs.c.o,
                  (long long)cs.c.h, (long long)cs.c.k, (long long)cs.c.s, (long long)cs.c.p);
    else
      std::printf("%s matmul %lldx%lldx%lld\n", cs.name.c_str(), (long long)cs.g.m, (long long)cs.g.n,
                  (long long)cs.g.k);
  }
}

// JIT compile time of one matmul kernel (square-512, hand-picked), median of 9.
bool PrintCompileTime(const pc::Target& target) {
  pc::Workload w = pc::MatmulWorkload(512, 512, 512);
  auto tmpl = *pc::FindTemplate("matmul");
  std::vector<double> ms;
  for (int i = 0; i < 9; ++i) {
    auto k = pc::BuildKernel(w, target, tmpl->HandPickedConfig(w, target));
    if (!k.ok()) {
      std::fprintf(stderr, "%s\n", k.status().ToString().c_str());
      return false;
    }
    ms.push_back(k->compile_ms());
  }
  std::printf(
      "JIT compile time, matmul 512x512x512 hand-picked config: median %.1f ms (min %.1f, max %.1f, 9 builds)\n\n",
      priortune::Median(ms), *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()));
  return true;
}

struct Impl {
  const char* name;
  bench::Run run;
  float* out;
};

// The peers of a case: oneDNN (plain and blocked), OpenBLAS except for depthwise (whose
// peer is oneDNN's grouped convolution, groups = C), the naive loops unless skipped.
void AddPeers(const Case& cs, const float* in0, const float* in1, float* peer_out, bool skip_naive,
              std::vector<Impl>& impls) {
  if (cs.depthwise()) {
    impls.push_back({"onednn", bench::DnnlConv(cs.c, in0, in1, peer_out, false), peer_out});
    impls.push_back({"onednn-blocked", bench::DnnlConv(cs.c, in0, in1, peer_out, true), nullptr});
  } else if (cs.conv) {
    impls.push_back({"openblas", bench::OpenBlasConv(cs.c, in0, in1, peer_out), peer_out});
    impls.push_back({"onednn", bench::DnnlConv(cs.c, in0, in1, peer_out, false), peer_out});
    impls.push_back({"onednn-blocked", bench::DnnlConv(cs.c, in0, in1, peer_out, true), nullptr});
    if (!skip_naive) impls.push_back({"naive", bench::NaiveConv(cs.c, in0, in1, peer_out), peer_out});
  } else {
    impls.push_back({"openblas", bench::OpenBlasGemm(cs.g, in0, in1, peer_out), peer_out});
    impls.push_back({"onednn", bench::DnnlGemm(cs.g, in0, in1, peer_out, false), peer_out});
    impls.push_back({"onednn-blocked", bench::DnnlGemm(cs.g, in0, in1, peer_out, true), peer_out});
    if (!skip_naive) impls.push_back({"naive", bench::NaiveGemm(cs.g, in0, in1, peer_out), peer_out});
  }
}

// The benchmark's state across cases.
struct Bench {
  const BenchOptions& o;
  pc::Target target = pc::Target::Host();
  pc::ConfigSource* source = nullptr;  // --db
  std::ofstream csv;
  pc::TimingOptions timing;
  std::map<int, double> peak;  // the FMA peak probe per thread count

  // Times each implementation one after another; GFLOPS by name, rows into the CSV.
  std::map<std::string, double> TimeAll(const Case& cs, int t, std::vector<Impl>& impls, const pc::KernelArgs& args,
                                        double flops) {
    std::map<std::string, double> gf;
    for (auto& impl : impls) {
      // A quiet period before each timing, part of the protocol: other libraries' worker
      // threads spin for a while after a call, and would take cores from the next one.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      pc::TimingOptions r_opts = timing;
      if (std::string(impl.name) == "naive") r_opts.repeat = std::min(o.repeat, 3);
      pc::TimingResult r = pc::TimeFunction(impl.run, r_opts);
      double diff =
          impl.out && impl.out != args.output() ? MaxRelDiff(args.output(), impl.out, args.output_size()) : 0.0;
      gf[impl.name] = flops / r.median / 1e9;
      csv << cs.name << "," << t << "," << impl.name << "," << gf[impl.name] << "," << r.median * 1e3 << ","
          << r.min * 1e3 << "," << r.max * 1e3 << "," << diff << "\n";
      if (diff > 1e-3)
        std::fprintf(stderr, "warning: %s %s differs from priortune by %g\n", cs.name.c_str(), impl.name, diff);
    }
    return gf;
  }

  void PrintRow(const Case& cs, int t, std::map<std::string, double>& gf, const pc::BuiltKernel* tuned, double flops) {
    auto g = [&](const char* k) { return gf.count(k) ? gf[k] : NAN; };
    std::printf("%-12s %3d %10.1f %10.1f %10.1f %10.1f %8.1f %8.0f%% %8.0f%% %8.0f%% %8.0f%%", cs.name.c_str(), t,
                g("priortune"), g("openblas"), g("onednn"), g("onednn-blocked"), g("naive"),
                100 * g("priortune") / g("openblas"), 100 * g("priortune") / g("onednn"),
                100 * g("priortune") / g("onednn-blocked"), 100 * g("priortune") / peak[t]);
    if (tuned) {
      double best_peer = std::max({cs.depthwise() ? 0.0 : g("openblas"), g("onednn"), g("onednn-blocked")});
      std::printf(" %10.1f %9.0f%% %9.0f%%  %s", g("tuned"), 100 * g("tuned") / best_peer, 100 * g("tuned") / peak[t],
                  tuned->choice.level.c_str());
    }
    if (cs.depthwise()) {  // memory-bound: input + output + weights once, in GB/s
      double bytes = 4.0 * (cs.c.c * cs.c.h * cs.c.h + cs.c.c * cs.c.oh() * cs.c.oh() + cs.c.c * cs.c.k * cs.c.k);
      auto gbs = [&](const char* k) { return g(k) * 1e9 / flops * bytes / 1e9; };
      std::printf("   GB/s: priortune %.1f, oneDNN %.1f, blocked %.1f", gbs("priortune"), gbs("onednn"),
                  gbs("onednn-blocked"));
      if (tuned) std::printf(", tuned %.1f", gbs("tuned"));
    }
    std::printf("\n");
    std::fflush(stdout);
  }

  // One case at `t` threads: priortune's hand-picked kernel (constant inputs packed once,
  // outside the timed calls, as a deployed model does), the stored best (build_best's,
  // for this thread count's target), the peers. False after an error (printed).
  bool RunThreads(const Case& cs, const pc::Workload& w, pc::Kernel& kernel, pc::KernelArgs& args,
                  std::vector<float>& peer_out, int t);
};

bool Bench::RunThreads(const Case& cs, const pc::Workload& w, pc::Kernel& kernel, pc::KernelArgs& args,
                       std::vector<float>& peer_out, int t) {
  pc::SetNumThreads(t);
  bench::SetPeerThreads(t);
  std::vector<Impl> impls;
  auto prepared_or = kernel.Prepare(args.pointers());
  if (!prepared_or.ok()) {
    std::fprintf(stderr, "%s: %s\n", cs.name.c_str(), prepared_or.status().ToString().c_str());
    return false;
  }
  pc::PreparedArgs prepared = std::move(prepared_or).value();
  impls.push_back({"priortune", [&] { (void)kernel.Run(prepared); }, args.output()});
  // The tuned kernel writes the same output, so the peers' outputs are compared with it.
  std::optional<pc::BuiltKernel> tuned;
  pc::PreparedArgs tuned_args;
  if (source) {
    auto built = pc::BuildBest(w, pc::Target::HostWithCores(t), *source);
    if (!built.ok()) {
      std::fprintf(stderr, "%s: %s\n", cs.name.c_str(), built.status().ToString().c_str());
      return false;
    }
    tuned = std::move(built).value();
    auto tuned_or = tuned->kernel.Prepare(args.pointers());
    if (!tuned_or.ok()) {
      std::fprintf(stderr, "%s: %s\n", cs.name.c_str(), tuned_or.status().ToString().c_str());
      return false;
    }
    tuned_args = std::move(tuned_or).value();
    impls.push_back({"tuned", [&] { (void)tuned->kernel.Run(tuned_args); }, args.output()});
  }
  AddPeers(cs, args.inputs()[0], args.inputs()[1], peer_out.data(), o.skip_naive, impls);
  const double flops = (*pc::FindTemplate(w.op))->Flops(w);
  std::map<std::string, double> gf = TimeAll(cs, t, impls, args, flops);
  PrintRow(cs, t, gf, tuned ? &*tuned : nullptr, flops);
  return true;
}

int Run(const BenchOptions& o) {
  auto wanted = Split(o.only);
  if (o.list) {
    PrintSuite(wanted);
    return 0;
  }
  Bench b{o};
  std::unique_ptr<priortune::db::Store> store;
  std::unique_ptr<pc::ConfigSource> source;
  if (!o.db_path.empty()) {
    if (!priortune::db::StoreExists(o.db_path)) {
      std::fprintf(stderr, "no store at %s\n", o.db_path.c_str());
      return 2;
    }
    auto opened = priortune::tuner::OpenStore(o.db_path);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      return 2;
    }
    store = std::move(opened).value();
    source = priortune::tuner::MakeDbConfigSource(*store);
    b.source = source.get();
  }
  std::vector<int> thread_counts;
  for (const auto& t : Split(o.threads_list)) thread_counts.push_back(std::stoi(t));
  b.csv.open(o.csv_path);
  if (!b.csv) {
    std::fprintf(stderr, "cannot write %s\n", o.csv_path.c_str());
    return 2;
  }
  b.csv << "shape,threads,impl,gflops,median_ms,min_ms,max_ms,max_rel_diff\n";
  b.timing.repeat = o.repeat;
  b.timing.min_repeat_ms = o.min_repeat_ms;
  if (!PrintCompileTime(b.target)) return 1;
  // The physical limit each row is a share of: the FMA peak probe, per thread count.
  for (int t : thread_counts) {
    bench::PeakProbe p = bench::FmaPeak(t);
    b.peak[t] = p.gflops;
    std::printf("FMA peak probe (%s, 12 chains per thread), %d thread(s): %.1f GFLOPS\n", p.isa, t, p.gflops);
    b.csv << "fma-peak," << t << "," << p.isa << "," << p.gflops << ",,,,\n";
  }
  std::printf("\n%-12s %3s %10s %10s %10s %10s %8s %9s %9s %9s %9s%s\n", "shape", "thr", "priortune", "OpenBLAS",
              "oneDNN", "oneDNN-blk", "naive", "pt/OBLAS", "pt/dnnl", "pt/blk", "pt/peak",
              source ? "      tuned tuned/best tuned/peak  level" : "");
  for (const Case& cs : Suite()) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), cs.name) == wanted.end()) continue;
    pc::Workload w = cs.depthwise()
                         ? pc::DepthwiseConv2dWorkload(1, cs.c.c, cs.c.h, cs.c.h, cs.c.k, cs.c.k, cs.c.s, cs.c.p)
                     : cs.conv ? pc::Conv2dWorkload(1, cs.c.c, cs.c.h, cs.c.h, cs.c.o, cs.c.k, cs.c.k, cs.c.s, cs.c.p)
                               : pc::MatmulWorkload(cs.g.m, cs.g.n, cs.g.k);
    const pc::OpTemplate* tmpl = *pc::FindTemplate(w.op);
    auto kernel = pc::BuildKernel(w, b.target, tmpl->HandPickedConfig(w, b.target));
    if (!kernel.ok()) {
      std::fprintf(stderr, "%s: %s\n", cs.name.c_str(), kernel.status().ToString().c_str());
      return 1;
    }
    pc::KernelArgs args(*tmpl, w, 11);
    std::vector<float> peer_out(args.output_size());
    for (int t : thread_counts)
      if (!b.RunThreads(cs, w, *kernel, args, peer_out, t)) return 1;
  }
  std::printf("\nGFLOPS = median of %d rounds (>= %.0f ms each); conv FLOPs count padded taps; CSV: %s\n", o.repeat,
              o.min_repeat_ms, o.csv_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"priortune_bench: priortune vs OpenBLAS, oneDNN and naive loops"};
  BenchOptions o;
  app.add_option("--only", o.only, "comma-separated shape names (default: all)");
  app.add_option("--threads", o.threads_list, "comma-separated thread counts");
  app.add_option("--repeat", o.repeat, "timing rounds per measurement");
  app.add_option("--min-repeat-ms", o.min_repeat_ms, "minimum length of a round");
  app.add_option("--csv", o.csv_path, "CSV output path");
  app.add_flag("--skip-naive", o.skip_naive, "do not time the naive loop nest");
  app.add_option("--db", o.db_path, "also time the best config stored here (built by build_best)");
  app.add_flag("--list", o.list, "print the suite as 'name op shape' lines (priortune tune's --shape) and exit");
  CLI11_PARSE(app, argc, argv);
  return Run(o);
}
