#include "server/service/measure_queue.h"

#include <algorithm>

namespace priortune::server {

using Clock = std::chrono::steady_clock;

std::vector<tuner::MeasureResult> MeasureQueue::Measure(const std::vector<tuner::Candidate>& candidates,
                                                        const std::atomic<bool>& cancel) {
  return MeasureTagged(MeasureTag{}, candidates, cancel).results;
}

MeasureOutcome MeasureQueue::MeasureTagged(const MeasureTag& tag, const std::vector<tuner::Candidate>& candidates,
                                           const std::atomic<bool>& cancel) {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  std::vector<std::string> keys;
  for (const auto& c : candidates) {
    uint64_t id = next_id_++;
    Item& item = items_[id];
    item.candidate = c;
    item.target_key = c.target.Key();
    item.group = tag.group;
    item.priority = tag.priority;
    pending_.push_back(id);
    ids.push_back(id);
    if (std::find(keys.begin(), keys.end(), item.target_key) == keys.end()) keys.push_back(item.target_key);
  }
  work_.notify_all();
  auto all_done = [&] {
    return std::all_of(ids.begin(), ids.end(), [&](uint64_t id) { return items_[id].result.has_value(); });
  };
  auto served = [&] {
    for (const auto& [w, key] : connected_)
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) return true;
    return false;
  };
  MeasureOutcome outcome;
  // Woken by every result, every worker that comes or goes, Wake (a cancel) and
  // shutdown; while no worker serves the batch's targets, also at the no-worker deadline,
  // counted from when the last one went (or from the start).
  Clock::time_point last_served = Clock::now();
  bool was_served = false;
  const auto deadline =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(tag.no_worker_deadline_seconds));
  auto stop = [&] { return all_done() || cancel.load() || shutdown_; };
  while (!stop()) {
    if (tag.no_worker_deadline_seconds <= 0) {
      done_.wait(lock);
      continue;
    }
    const bool now_served = served();
    if (now_served || was_served) last_served = Clock::now();  // still served, or just left
    was_served = now_served;
    if (now_served) {
      done_.wait(lock);
    } else if (Clock::now() - last_served > deadline) {
      outcome.no_worker = true;
      break;
    } else {
      done_.wait_until(lock, last_served + deadline + std::chrono::milliseconds(1));
    }
  }

  for (uint64_t id : ids) {
    Item& item = items_[id];
    if (item.result) {
      outcome.results.push_back(std::move(*item.result));
    } else {
      tuner::MeasureResult r;
      r.measured = false;
      outcome.results.push_back(r);
    }
    items_.erase(id);  // a late result for it is dropped by Complete
  }
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), [&](uint64_t id) { return !items_.count(id); }),
                 pending_.end());
  return outcome;
}

void MeasureQueue::AddWorker(const std::string& worker, const std::string& target_key) {
  std::lock_guard<std::mutex> lock(mu_);
  connected_[worker] = target_key;
  ++stats_.seen;
  Notify(QueueEventKind::kWorkerAdded, worker);
  done_.notify_all();
}

std::optional<Lease> MeasureQueue::Take(const std::string& worker, const std::string& target_key,
                                        std::chrono::milliseconds wait) {
  return Take(worker, target_key, Clock::now() + wait, nullptr);
}

std::optional<Lease> MeasureQueue::Take(const std::string& worker, const std::string& target_key,
                                        Clock::time_point until, const std::function<bool()>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  std::deque<uint64_t>::iterator found;
  // The highest priority first; within it the next group after the one served last
  // (round robin), and that group's oldest candidate.
  bool stopped = false;
  auto ready = [&] {
    if (shutdown_) return true;
    if (stop && stop()) return stopped = true;
    found = pending_.end();
    auto wrapped = pending_.end();  // best candidate among groups <= last_group_
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      const Item& item = items_[*it];
      if (item.target_key != target_key) continue;
      auto better = [&](std::deque<uint64_t>::iterator cur) {
        if (cur == pending_.end()) return true;
        const Item& c = items_[*cur];
        if (item.priority != c.priority) return item.priority > c.priority;
        return item.group < c.group;  // the same group: keep the older one
      };
      if (item.group > last_group_) {
        if (better(found)) found = it;
      } else if (better(wrapped)) {
        wrapped = it;
      }
    }
    if (found == pending_.end() || (wrapped != pending_.end() && items_[*wrapped].priority > items_[*found].priority))
      found = wrapped;
    return found != pending_.end();
  };
  if (!work_.wait_until(lock, until, ready) || shutdown_ || stopped) return std::nullopt;
  uint64_t id = *found;
  pending_.erase(found);
  Item& item = items_[id];
  last_group_ = item.group;
  item.holder = worker;
  Notify(QueueEventKind::kLeased, worker, id);
  return Lease{id, item.candidate};
}

void MeasureQueue::Complete(const std::string& worker, uint64_t id, tuner::MeasureResult result, double busy_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  busy_[worker] += busy_seconds;
  auto it = items_.find(id);
  if (it == items_.end() || it->second.holder != worker || it->second.result) return;
  result.worker = worker;
  it->second.result = std::move(result);
  it->second.holder.clear();
  ++stats_.completed;
  Notify(QueueEventKind::kCompleted, worker, id);
  done_.notify_all();
}

void MeasureQueue::HandBack(const std::string& worker, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = items_.find(id);
  if (it == items_.end() || it->second.holder != worker || it->second.result) return;
  it->second.holder.clear();
  pending_.push_front(id);  // first in line: its batch is waiting for it
  ++stats_.handed_back;
  Notify(QueueEventKind::kHandedBack, worker, id);
  work_.notify_all();
}

void MeasureQueue::RemoveWorker(const std::string& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  connected_.erase(worker);
  for (auto& [id, item] : items_) {
    if (item.holder != worker || item.result) continue;
    item.holder.clear();
    ++item.losses;
    item.lost_workers += (item.lost_workers.empty() ? "" : ", ") + worker;
    if (item.losses >= options_.max_losses) {
      tuner::MeasureResult r;
      r.error = db::ErrorKind::kWorkerLost;
      r.error_message = "the candidate was in flight on " + std::to_string(item.losses) + " workers that were lost (" +
                        item.lost_workers + "); not retried";
      r.worker = worker;
      item.result = std::move(r);
      Notify(QueueEventKind::kGivenUp, worker, id);
    } else {
      pending_.push_front(id);  // first in line: its batch is waiting for it
      ++stats_.requeued;
      Notify(QueueEventKind::kRequeued, worker, id);
    }
  }
  Notify(QueueEventKind::kWorkerRemoved, worker);
  work_.notify_all();
  done_.notify_all();
}

int MeasureQueue::PendingFor(const std::string& target_key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(pending_.begin(), pending_.end(), [&](uint64_t id) {
    auto it = items_.find(id);
    return it != items_.end() && it->second.target_key == target_key;
  }));
}

bool MeasureQueue::WaitForWorkers(int n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return done_.wait_for(lock, timeout, [&] { return static_cast<int>(connected_.size()) >= n; });
}

void MeasureQueue::SetObserver(QueueObserver observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

void MeasureQueue::Notify(QueueEventKind kind, const std::string& worker, uint64_t lease) {
  if (observer_) observer_(QueueEvent{kind, worker, lease});
}

bool MeasureQueue::WaitUntil(Clock::time_point until, const std::function<bool()>& ready) {
  std::unique_lock<std::mutex> lock(mu_);
  work_.wait_until(lock, until, [&] { return shutdown_ || ready(); });
  return ready();
}

void MeasureQueue::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  work_.notify_all();
  done_.notify_all();
}

void MeasureQueue::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  work_.notify_all();
  done_.notify_all();
}

bool MeasureQueue::shutting_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

WorkerStats MeasureQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerStats s = stats_;
  s.connected = static_cast<int>(connected_.size());
  for (const auto& [w, b] : busy_) s.busy_seconds += b;
  return s;
}

}  // namespace priortune::server
