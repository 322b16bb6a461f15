// The measurement queue with leases: the tuning loop puts candidates in (as a
// tuner::Measurer); worker streams lease them one at a time and hand back results. A
// worker that goes away loses its lease and its candidate goes back to the queue; a
// candidate that has cost `max_losses` workers is recorded as `worker lost`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "tuner/measure.h"

namespace priortune::server {

struct QueueOptions {
  int max_losses = 2;  // workers a candidate may take down before it is given up
};

struct Lease {
  uint64_t id = 0;
  tuner::Candidate candidate;
};

// Who asks for a batch, for sharing the workers between the tuning runs of several jobs:
// a higher priority is served first; runs of one priority take turns (round robin by
// group), one candidate each.
struct MeasureTag {
  uint64_t group = 0;
  int priority = 0;
  // Give the batch up when no connected worker has served its target for this long
  // (0: wait as long as it takes).
  double no_worker_deadline_seconds = 0;
};

struct MeasureOutcome {
  std::vector<tuner::MeasureResult> results;  // as Measure's
  bool no_worker = false;                     // given up: no worker for the target within the deadline
};

// What happened in the queue, for an observer (tests use one as a latch: "worker X now
// holds lease Y"; a metrics exporter could count them).
enum class QueueEventKind : uint8_t {
  kWorkerAdded,    // `worker` said hello
  kLeased,         // `worker` took lease `lease`
  kCompleted,      // `worker` returned a result for `lease`
  kRequeued,       // `worker` was lost holding `lease`; it went back to the queue
  kGivenUp,        // lease `lease` cost max_losses workers: recorded as `worker lost`
  kHandedBack,     // `worker` gave lease `lease` back unmeasured (it is leaving); queued again
  kWorkerRemoved,  // `worker` is gone
};
struct QueueEvent {
  QueueEventKind kind;
  std::string worker;
  uint64_t lease = 0;
};
using QueueObserver = std::function<void(const QueueEvent&)>;

struct WorkerStats {
  int connected = 0;        // workers holding a stream now
  int seen = 0;             // workers that ever said hello
  double busy_seconds = 0;  // sum over workers of time spent on candidates
  int64_t completed = 0;
  int64_t requeued = 0;     // leases returned to the queue by a lost worker
  int64_t handed_back = 0;  // leases a leaving worker gave back (not losses)
};

// Thread-safe. Several tuning threads may call Measure() at once (each waits for its own
// candidates); the worker-side calls come from any number of stream threads.
class MeasureQueue : public tuner::Measurer {
 public:
  explicit MeasureQueue(QueueOptions options = {}) : options_(options) {}

  std::vector<tuner::MeasureResult> Measure(const std::vector<tuner::Candidate>& candidates,
                                            const std::atomic<bool>& cancel) override;

  // Measure, tagged: see MeasureTag. Unmeasured results (measured = false) after a cancel
  // or when no worker served the target within the deadline.
  MeasureOutcome MeasureTagged(const MeasureTag& tag, const std::vector<tuner::Candidate>& candidates,
                               const std::atomic<bool>& cancel);

  // Worker side. A worker id must be unique among connected workers; `target_key` is the
  // target it measures for (what it will Take), which the no-worker deadline looks at.
  void AddWorker(const std::string& worker, const std::string& target_key = "");
  // Candidates waiting for a worker of `target_key`.
  int PendingFor(const std::string& target_key) const;
  // The next candidate whose target key is `target_key` (a worker measures only what was
  // asked of its own machine), waiting up to `wait`; nullopt on timeout or shutdown.
  std::optional<Lease> Take(const std::string& worker, const std::string& target_key, std::chrono::milliseconds wait);
  // The same, waiting until `until` and giving up as soon as `stop()` holds (checked under
  // the queue's lock whenever the queue changes or Wake is called).
  std::optional<Lease> Take(const std::string& worker, const std::string& target_key,
                            std::chrono::steady_clock::time_point until, const std::function<bool()>& stop);
  // Blocks until `ready()` holds, the queue shuts down or `until` passes; returns ready().
  // `ready` is checked under the queue's lock whenever the queue changes or Wake is called:
  // a worker's stream waits here for its own state (capacity, leaving, the stream's end).
  bool WaitUntil(std::chrono::steady_clock::time_point until, const std::function<bool()>& ready);
  // Wakes every Take, WaitUntil and Measure to check their conditions again: a stream's
  // state changed, or a batch's cancel flag was set (whoever sets one calls Wake).
  void Wake();
  // A result for a lease `worker` holds; results for unknown or foreign leases (a
  // cancelled batch, a lease already given to another worker) are dropped.
  void Complete(const std::string& worker, uint64_t id, tuner::MeasureResult result, double busy_seconds);
  // `worker` gives lease `id` back unmeasured: first in line again, no loss counted.
  // Ignored for a lease it does not hold (cancelled, or already given to another).
  void HandBack(const std::string& worker, uint64_t id);
  // The worker is gone: its leases go back to the queue (or become `worker lost`).
  void RemoveWorker(const std::string& worker);

  // Blocks until `n` workers are connected; false on timeout.
  bool WaitForWorkers(int n, std::chrono::milliseconds timeout);
  // Called for every event, in order, with the queue's lock held: it must be quick and
  // must not call back into the queue. May be set or replaced at any time.
  void SetObserver(QueueObserver observer);

  // Wakes every Take(); later Takes return nullopt at once.
  void Shutdown();
  bool shutting_down() const;
  WorkerStats stats() const;

 private:
  struct Item {
    tuner::Candidate candidate;
    std::string target_key;
    std::optional<tuner::MeasureResult> result;
    std::string holder;  // worker holding the lease, empty while queued
    uint64_t group = 0;
    int priority = 0;
    int losses = 0;
    std::string lost_workers;
  };

  QueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_;  // pending grew, or shutdown
  std::condition_variable done_;  // a result arrived, or workers changed
  std::map<uint64_t, Item> items_;
  std::deque<uint64_t> pending_;
  std::map<std::string, double> busy_;            // per worker
  std::map<std::string, std::string> connected_;  // worker -> its target key
  uint64_t last_group_ = 0;                       // the group Take served last
  void Notify(QueueEventKind kind, const std::string& worker, uint64_t lease = 0);

  QueueObserver observer_;
  uint64_t next_id_ = 1;
  bool shutdown_ = false;
  WorkerStats stats_;
};

}  // namespace priortune::server
