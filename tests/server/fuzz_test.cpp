// priortune fuzz through the executable: a fixed-seed smoke run over every op finds
// nothing (the CI's fuzz run), a case that kills its runner or hangs is reported and the
// run goes on, a run killed midway resumes where it stopped, and bad options exit 2.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster.h"
#include "compiler/target/target.h"

namespace priortune::server {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

int Lines(const std::string& path) {
  std::string t = ReadText(path);
  return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
}

// The CI's fuzz smoke run: a fixed seed, all four templates and the model kernels, both
// thread counts, the host's ISA and AVX2 where the host has AVX-512, half of it
// bounds-checked. 0 failures of any kind.
TEST(Fuzz, AFixedSeedSmokeRunOverEveryOpFindsNothing) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE;
  std::string targets = " --target host";
  if (compiler::Target::Host().has("avx512f")) targets += " --target x86-64-v3";
  for (const char* bounds : {"", " --check-bounds"}) {
    int code = -1;
    const std::string out_file = scratch.Path(std::string("smoke") + (*bounds ? "-checked" : "") + ".jsonl");
    std::string out = Shell(exe + " fuzz --cases 100 --seed 7 --configs 4 --max-macs 2e6 --threads 1,2 --jobs 2" +
                                targets + bounds + " --out " + out_file,
                            &code);
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("fuzz: 100 cases"), std::string::npos) << out;
    EXPECT_NE(out.find("passed 100, crashes 0, timeouts 0, bounds violations 0, mismatches 0, compile failures 0, "
                       "other errors 0"),
              std::string::npos)
        << out;
    for (const char* op : {"matmul", "batch_matmul", "conv2d", "depthwise_conv2d", "model"})
      EXPECT_NE(out.find(std::string(" ") + op + " "), std::string::npos) << op << " not fuzzed:\n" << out;
    EXPECT_EQ(Lines(out_file), 0) << ReadText(out_file);
    EXPECT_EQ(Lines(out_file + ".progress"), 101);  // the run's header and one line per case
  }
}

// A case whose buffers cannot be allocated kills its runner (an abort), one with a
// deadline too short to build in times out: each is reported, and the next case runs on
// a new runner. Replaying a repro file re-runs exactly its cases.
TEST(Fuzz, ACrashOrAHangIsReportedAndTheNextCaseRunsOnANewRunner) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE;
  const std::string target = compiler::Target::Host().ToJson();
  auto kernel = [&](const std::string& workload) {
    return R"({"case":{"kind":"kernel","index":1,"threads":1,"target":)" + target + R"(,"workload":)" + workload +
           R"(,"config":{"kc":4,"ku":1,"mc":1,"mr":1,"nc":16,"nr":16,"order":0,"pack_a":0,"pack_b":0,"parallel":0}},"outcome":"crash"})";
  };
  const std::string file = scratch.Path("repro.jsonl");
  {
    std::ofstream f(file);
    // 2^21 x 2^21 floats: no machine has the memory for its arguments.
    f << kernel(R"({"op":"matmul","dims":{"M":2097152,"N":2097152,"K":4}})") << "\n";
    f << kernel(R"({"op":"matmul","dims":{"M":24,"N":40,"K":4}})") << "\n";
  }
  int code = -1;
  std::string out = Shell(exe + " fuzz --replay " + file + " --jobs 1", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("crashes 1"), std::string::npos) << out;
  EXPECT_NE(out.find("passed 1"), std::string::npos) << out;
  EXPECT_NE(out.find("the runner died (signal"), std::string::npos) << out;

  out = Shell(exe + " fuzz --replay " + file + " --jobs 1 --timeout 0.001", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("timeouts 2"), std::string::npos) << out;
}

TEST(Fuzz, ARunKilledMidwayResumesWhereItStopped) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE, out_file = scratch.Path("run.jsonl");
  const std::vector<std::string> argv_s = {"priortune", "fuzz",  "--cases",    "24",  "--seed", "3",
                                           "--configs", "2",     "--max-macs", "1e6", "--op",   "matmul",
                                           "--op",      "model", "--jobs",     "1",   "--out",  out_file};
  std::string args;
  for (size_t i = 1; i < argv_s.size(); ++i) args += " " + argv_s[i];
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv;
    for (const auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  // Kill it once a few cases are done (or it ends first: then resuming finds all done);
  // its runners die with it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  int status = 0;
  bool ended = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ended = true;
      break;
    }
    if (Lines(out_file + ".progress") >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a file, with a deadline
  }
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  const int before = Lines(out_file + ".progress") - 1;
  ASSERT_GE(before, 1);
  int code = -1;
  std::string out = Shell(exe + args + " --resume", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("resuming: " + std::to_string(before) + " of 24 cases done"), std::string::npos) << out;
  EXPECT_NE(out.find("fuzz: 24 cases (" + std::to_string(24 - before) + " this run"), std::string::npos) << out;
  EXPECT_EQ(Lines(out_file + ".progress"), 25);

  // Other options than the run's: refused, nothing overwritten.
  out = Shell(exe + " fuzz --cases 24 --seed 4 --configs 2 --op matmul --op model --out " + out_file + " --resume",
              &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("the progress of another run"), std::string::npos) << out;
  EXPECT_EQ(Lines(out_file + ".progress"), 25);
}

TEST(Fuzz, BadOptionsExitTwoWithTheReason) {
  const std::string exe = PRIORTUNE_EXE;
  int code = -1;
  std::string out = Shell(exe + " fuzz --op nosuchop --cases 1", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("'nosuchop' is not a registered template"), std::string::npos) << out;
  out = Shell(exe + " fuzz --threads 0 --cases 1", &code);
  EXPECT_EQ(code, 2) << out;
  out = Shell(exe + " fuzz --replay /nonexistent/file.jsonl", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("cannot read"), std::string::npos) << out;
}

}  // namespace
}  // namespace priortune::server
