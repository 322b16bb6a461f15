// priortune fuzz: runs the fuzzer's cases (tuner/fuzz.h) in isolated runner processes
// and keeps the score.
//
//   supervisor ── jobs threads, each with a runner child (priortune fuzz --runner)
//        │ case JSON line ──────────────────>  build (JIT), run on random inputs of the
//        │                                     real shape, compare with the reference
//        │ <────────────────── result line     pass / mismatch / bounds violation / ...
//        │ no line within --timeout: SIGKILL, "timeout", a new runner
//        │ runner died: "crash (signal N)", a new runner
//        ├─> FILE           one JSON line per failure: the case, what happened (--replay FILE)
//        └─> FILE.progress  one line per finished case, for --resume
#pragma once

#include <cstdint>
#include <string>

#include "tuner/fuzz.h"

namespace priortune::server {

struct FuzzCommandOptions {
  tuner::FuzzOptions fuzz;
  int64_t cases = 1000;
  double timeout_seconds = 60;          // per case: build, run and reference
  std::string out = "fuzz-failures.jsonl";  // the repro file
  std::string replay;                   // re-run the cases of this file instead
  int jobs = 0;                         // runner processes; 0: the machine's cores
  bool resume = false;                  // go on from FILE.progress
  int64_t recycle_after = 400;          // cases a runner serves before it is replaced
  bool list = false;                    // print the run's cases as JSON lines, run nothing
};

// Exit code: 0 when every case passed, 1 when some failed (they are in the repro file),
// 2 with a message for bad options or files.
int RunFuzz(const FuzzCommandOptions& options);

// The runner child: case JSON lines on stdin, result lines on stdout.
int RunFuzzRunner();

}  // namespace priortune::server
