// Map of one worker's Lease stream on the server:
//
//   worker ──hello──> server            register in the queue, answer with a welcome
//   reader thread:  results  ──> queue.Complete      heartbeats ──> last_seen
//                   every message, and the stream's end ──> queue.Wake
//   this thread:    queue.Take ──candidate──> worker (up to its capacity, only
//                   candidates for the target the worker said hello with); waits on the
//                   queue (no polling) until the worker has room, leaves, or goes silent
//                   silence > heartbeat timeout, stream end, shutdown ──> leave
//   a worker leaving (SIGTERM): hand-back 0 ──> no more candidates for it; each
//                   candidate it held ──> queue.HandBack (queued again, no loss);
//                   none left ──> goodbye, the worker exits
//   leaving:        queue.RemoveWorker (leases go back to the queue)
#include "server/service/worker_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "proto/priortune.grpc.pb.h"
#include "server/common/convert.h"
#include "server/service/internal/worker_service_impl.h"

namespace priortune::server {
namespace {

using Clock = std::chrono::steady_clock;

using LeaseStream = grpc::ServerReaderWriter<v1::ServerMessage, v1::WorkerMessage>;

// The hello of a Lease stream: OK, or why the worker is refused.
grpc::Status CheckHello(const v1::WorkerMessage& first) {
  if (!first.has_hello()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a hello");
  const v1::Hello& hello = first.hello();
  if (hello.worker_id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello without a worker_id");
  if (hello.protocol() < kMinWorkerProtocol)
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "worker " + hello.worker_id() + " speaks worker protocol " + std::to_string(hello.protocol()) +
                            ", this server needs " + std::to_string(kMinWorkerProtocol) +
                            " or later (targets that name their CPU's microarchitecture): upgrade the worker to "
                            "this server's priortune");
  return grpc::Status::OK;
}

// One welcomed worker's stream: a reader thread takes its messages; the caller's thread
// sends it candidates, waiting on the queue (the reader wakes it after every message).
class WorkerStream {
 public:
  WorkerStream(MeasureQueue& queue, const WorkerServiceOptions& options, LeaseStream* stream, std::string id,
               std::string target_key, int capacity)
      : queue_(queue),
        options_(options),
        stream_(stream),
        id_(std::move(id)),
        target_key_(std::move(target_key)),
        capacity_(capacity) {}

  grpc::Status Serve(grpc::ServerContext* ctx) {
    std::thread reader([this] { Read(); });
    grpc::Status status = Send();
    if (status.ok() && !ended_ && (queue_.shutting_down() || leaving_)) SayGoodbye();
    if (!ended_) ctx->TryCancel();  // unblocks the reader
    reader.join();
    return status;
  }

 private:
  void Read() {
    v1::WorkerMessage m;
    while (stream_->Read(&m)) {
      last_seen_ = Clock::now().time_since_epoch().count();
      if (m.has_result()) {
        queue_.Complete(id_, m.result().candidate_id(), FromProto(m.result()), m.result().busy_seconds());
        --outstanding_;
      } else if (m.has_hand_back()) {
        // Candidate 0 announces the leaving; then each candidate it held comes back.
        if (m.hand_back().candidate_id() == 0) {
          spdlog::info("worker {} is leaving: {}", id_, m.hand_back().reason());
          leaving_ = true;
        } else {
          spdlog::info("worker {} hands back candidate {}", id_, m.hand_back().candidate_id());
          queue_.HandBack(id_, m.hand_back().candidate_id());
          --outstanding_;
        }
      }
      queue_.Wake();
    }
    ended_ = true;
    queue_.Wake();
  }

  // What ends the stream; what lets it take another candidate.
  bool Over() const { return ended_.load() || (leaving_.load() && outstanding_.load() == 0); }
  bool MayTake() const { return !leaving_.load() && outstanding_.load() < capacity_; }

  // Candidates until the stream is over, the queue shuts down or a heartbeat is missed.
  grpc::Status Send() {
    const auto timeout =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.heartbeat_timeout_seconds));
    while (!Over() && !queue_.shutting_down()) {
      const auto deadline = Clock::time_point(Clock::duration(last_seen_.load())) + timeout;
      if (Clock::now() > deadline) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no heartbeat from " + id_);
      if (!MayTake()) {
        queue_.WaitUntil(deadline, [&] { return Over() || MayTake(); });
        continue;
      }
      std::optional<server::Lease> lease =
          queue_.Take(id_, target_key_, deadline, [&] { return Over() || !MayTake(); });
      if (!lease) continue;
      v1::ServerMessage m;
      v1::Candidate* c = m.mutable_candidate();
      c->set_id(lease->id);
      ToProto(lease->candidate.workload, c->mutable_workload());
      ToProto(lease->candidate.target, c->mutable_target());
      ToProto(lease->candidate.config, c->mutable_config());
      ++outstanding_;
      if (!stream_->Write(m)) break;  // the lease returns with RemoveWorker
    }
    return grpc::Status::OK;
  }

  // Let the goodbye arrive before the stream is cancelled: the worker answers it by
  // closing its side (bounded: a worker that does not is cut off after 2 s).
  void SayGoodbye() {
    v1::ServerMessage bye;
    bye.mutable_goodbye()->set_reconnect(!leaving_ && options_.reconnect_after_shutdown);
    bye.mutable_goodbye()->set_reason(leaving_                            ? "everything it held is back in the queue"
                                      : options_.reconnect_after_shutdown ? "the server is restarting"
                                                                          : "the run is over");
    if (stream_->Write(bye)) queue_.WaitUntil(Clock::now() + std::chrono::seconds(2), [&] { return ended_.load(); });
  }

  MeasureQueue& queue_;
  const WorkerServiceOptions& options_;
  LeaseStream* stream_;
  const std::string id_, target_key_;
  const int capacity_;
  std::atomic<bool> ended_{false};
  std::atomic<int64_t> last_seen_{Clock::now().time_since_epoch().count()};
  std::atomic<int> outstanding_{0};
  std::atomic<bool> leaving_{false};  // the worker said it is leaving: nothing more for it
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(MeasureQueue& queue, const WorkerServiceOptions& options, AuthorizeCall authorize)
      : queue_(queue), options_(options), authorize_(std::move(authorize)) {}

  grpc::Status Lease(grpc::ServerContext* ctx, LeaseStream* stream) override {
    if (authorize_) {
      grpc::Status allowed = authorize_(ctx);
      if (!allowed.ok()) return allowed;
    }
    v1::WorkerMessage first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "stream closed before hello");
    if (grpc::Status hello = CheckHello(first); !hello.ok()) return hello;
    const v1::Hello& hello = first.hello();
    // Two workers may pick the same name; the queue needs unique ones.
    std::string id = hello.worker_id() + "#" + std::to_string(++connections_);
    const compiler::Target serves = FromProto(hello.target());
    const std::string target_key = serves.Key();

    v1::ServerMessage welcome;
    welcome.mutable_welcome()->set_heartbeat_seconds(options_.heartbeat_seconds);
    if (!stream->Write(welcome)) return grpc::Status(grpc::StatusCode::CANCELLED, "worker left");
    queue_.AddWorker(id, target_key);
    const int capacity = std::max(1, hello.capacity());
    spdlog::info("worker {} joined (measures for {}, target {}, {} thread{}, {} at a time)", id, serves.Describe(),
                 target_key, serves.cores, serves.cores == 1 ? "" : "s", capacity);
    grpc::Status status = WorkerStream(queue_, options_, stream, id, target_key, capacity).Serve(ctx);
    queue_.RemoveWorker(id);
    spdlog::info("worker {} left{}", id, status.ok() ? "" : ": " + status.error_message());
    return status;
  }

 private:
  MeasureQueue& queue_;
  WorkerServiceOptions options_;
  AuthorizeCall authorize_;
  std::atomic<int> connections_{0};
};

}  // namespace

std::unique_ptr<grpc::Service> NewWorkerService(MeasureQueue& queue, const WorkerServiceOptions& options,
                                                AuthorizeCall authorize) {
  return std::make_unique<WorkerServiceImpl>(queue, options, std::move(authorize));
}

struct WorkerServer::Impl {
  std::unique_ptr<grpc::Service> service;
  std::unique_ptr<grpc::Server> server;
  MeasureQueue* queue = nullptr;
  int port = 0;
  bool stopped = false;
};

WorkerServer::WorkerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerServer::~WorkerServer() { Shutdown(); }
int WorkerServer::port() const { return impl_->port; }

StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(const std::string& address, MeasureQueue& queue,
                                                            const WorkerServiceOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->service = NewWorkerService(queue, options, nullptr);
  impl->queue = &queue;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) return Status(StatusCode::kUnavailable, "cannot listen on " + address);
  return std::unique_ptr<WorkerServer>(new WorkerServer(std::move(impl)));
}

void WorkerServer::Shutdown() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->queue->Shutdown();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  impl_->server->Wait();
}

}  // namespace priortune::server
