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

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(MeasureQueue& queue, const WorkerServiceOptions& options, AuthorizeCall authorize)
      : queue_(queue), options_(options), authorize_(std::move(authorize)) {}

  grpc::Status Lease(grpc::ServerContext* ctx,
                     grpc::ServerReaderWriter<v1::ServerMessage, v1::WorkerMessage>* stream) override {
    if (authorize_) {
      grpc::Status allowed = authorize_(ctx);
      if (!allowed.ok()) return allowed;
    }
    v1::WorkerMessage first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "stream closed before hello");
    if (!first.has_hello())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a hello");
    const v1::Hello& hello = first.hello();
    if (hello.worker_id().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello without a worker_id");
    if (hello.protocol() < kMinWorkerProtocol)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "worker " + hello.worker_id() + " speaks worker protocol " + std::to_string(hello.protocol()) +
                              ", this server needs " + std::to_string(kMinWorkerProtocol) +
                              " or later (targets that name their CPU's microarchitecture): upgrade the worker to "
                              "this server's priortune");
    // Two workers may pick the same name; the queue needs unique ones.
    std::string id = hello.worker_id() + "#" + std::to_string(++connections_);
    const compiler::Target serves = FromProto(hello.target());
    const std::string target_key = serves.Key();

    v1::ServerMessage welcome;
    welcome.mutable_welcome()->set_heartbeat_seconds(options_.heartbeat_seconds);
    if (!stream->Write(welcome)) return grpc::Status(grpc::StatusCode::CANCELLED, "worker left");
    queue_.AddWorker(id, target_key);
    spdlog::info("worker {} joined (measures for {}, target {}, {} thread{}, {} at a time)", id, serves.Describe(),
                 target_key, serves.cores, serves.cores == 1 ? "" : "s", std::max(1, hello.capacity()));

    std::atomic<bool> ended{false};
    std::atomic<int64_t> last_seen{Clock::now().time_since_epoch().count()};
    std::atomic<int> outstanding{0};
    std::atomic<bool> leaving{false};  // the worker said it is leaving: nothing more for it
    std::thread reader([&] {
      v1::WorkerMessage m;
      while (stream->Read(&m)) {
        last_seen = Clock::now().time_since_epoch().count();
        if (m.has_result()) {
          queue_.Complete(id, m.result().candidate_id(), FromProto(m.result()),
                          m.result().busy_seconds());
          --outstanding;
        } else if (m.has_hand_back()) {
          // Candidate 0 announces the leaving; then each candidate it held comes back.
          if (m.hand_back().candidate_id() == 0) {
            spdlog::info("worker {} is leaving: {}", id, m.hand_back().reason());
            leaving = true;
          } else {
            spdlog::info("worker {} hands back candidate {}", id, m.hand_back().candidate_id());
            queue_.HandBack(id, m.hand_back().candidate_id());
            --outstanding;
          }
        }
        queue_.Wake();  // the sending side waits on the queue for this stream's state
      }
      ended = true;
      queue_.Wake();
    });

    const auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.heartbeat_timeout_seconds));
    grpc::Status status = grpc::Status::OK;
    const int capacity = std::max(1, hello.capacity());
    // What ends the stream; what lets it take another candidate. Both are waited for on
    // the queue (the reader wakes it after every message), up to the heartbeat deadline.
    auto over = [&] { return ended.load() || (leaving.load() && outstanding.load() == 0); };
    auto may_take = [&] { return !leaving.load() && outstanding.load() < capacity; };
    while (!over() && !queue_.shutting_down()) {
      const auto deadline = Clock::time_point(Clock::duration(last_seen.load())) + timeout;
      if (Clock::now() > deadline) {
        status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no heartbeat from " + id);
        break;
      }
      if (!may_take()) {
        queue_.WaitUntil(deadline, [&] { return over() || may_take(); });
        continue;
      }
      std::optional<server::Lease> lease =
          queue_.Take(id, target_key, deadline, [&] { return over() || !may_take(); });
      if (!lease) continue;
      v1::ServerMessage m;
      v1::Candidate* c = m.mutable_candidate();
      c->set_id(lease->id);
      ToProto(lease->candidate.workload, c->mutable_workload());
      ToProto(lease->candidate.target, c->mutable_target());
      ToProto(lease->candidate.config, c->mutable_config());
      ++outstanding;
      if (!stream->Write(m)) break;  // the lease returns with RemoveWorker
    }
    if (status.ok() && !ended && (queue_.shutting_down() || leaving)) {
      v1::ServerMessage bye;
      bye.mutable_goodbye()->set_reconnect(!leaving && options_.reconnect_after_shutdown);
      bye.mutable_goodbye()->set_reason(leaving                               ? "everything it held is back in the queue"
                                        : options_.reconnect_after_shutdown ? "the server is restarting"
                                                                            : "the run is over");
      // Let it arrive before the stream is cancelled: the worker answers a goodbye by
      // closing its side (bounded: a worker that does not is cut off after 2 s).
      if (stream->Write(bye)) queue_.WaitUntil(Clock::now() + std::chrono::seconds(2), [&] { return ended.load(); });
    }
    if (!ended) ctx->TryCancel();  // unblocks the reader
    reader.join();
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

StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(const std::string& address,
                                                            MeasureQueue& queue,
                                                            const WorkerServiceOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->service = NewWorkerService(queue, options, nullptr);
  impl->queue = &queue;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0)
    return Status(StatusCode::kUnavailable, "cannot listen on " + address);
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
