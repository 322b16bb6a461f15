// Map of the tuning server (one port):
//
//   client ──TuningService──> authorize (client token) ──> validate (field named)
//                              SubmitJob/GetJob/ListJobs/CancelJob/WatchJob ──> JobManager
//                              Lookup/LookupBatch ──> db-backed ConfigSource (fallback chain)
//                              ListWorkloads/ListRecords/ImportLogs/ExportLogs ──> Store
//   worker ──WorkerService.Lease──> authorize (worker token, client certificate if asked)
//                              ──> MeasureQueue (the jobs' runs put candidates in)
//   grpc.health.v1.Health, grpc.reflection.v1alpha.ServerReflection: open to all
#include "server/service/tuning_service.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <sstream>

#include "compiler/ops/op_template.h"
#include "proto/priortune.grpc.pb.h"
#include "server/common/auth.h"
#include "server/common/connection.h"
#include "server/common/convert.h"
#include "server/common/targets.h"
#include "server/service/internal/worker_service_impl.h"
#include "tuner/db_config_source.h"
#include "tuner/log_import.h"

namespace priortune::server {
namespace {

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

grpc::Status Invalid(const std::string& message) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message); }

class Authorizer {
 public:
  Authorizer(std::optional<TokenTable> tokens, bool worker_certificates)
      : tokens_(std::move(tokens)), worker_certificates_(worker_certificates) {}

  // The caller's principal when it may act as `role`; `what` names the call for the message.
  grpc::Status Check(grpc::ServerContext* ctx, Role role, const char* what, Principal* out) const {
    if (role == Role::kWorker && worker_certificates_ &&
        !(ctx->auth_context() && ctx->auth_context()->IsPeerAuthenticated()))
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "a worker needs a TLS client certificate signed by the server's --tls-worker-ca");
    if (!tokens_) {
      *out = Principal{"anonymous", role};
      return grpc::Status::OK;
    }
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it == md.end())
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(what) + ": no token: send metadata 'authorization: Bearer TOKEN'");
    std::string value(it->second.data(), it->second.size());
    const std::string prefix = "Bearer ";
    if (value.compare(0, prefix.size(), prefix) != 0)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(what) + ": the authorization metadata is not 'Bearer TOKEN'");
    std::optional<Principal> p = tokens_->Find(value.substr(prefix.size()));
    if (!p) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(what) + ": unknown token");
    if (p->role != role)
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(what) + ": " + p->name + " holds a " +
                                                                   RoleName(p->role) + " token; this call needs a " +
                                                                   RoleName(role) + " token");
    *out = *p;
    return grpc::Status::OK;
  }

 private:
  std::optional<TokenTable> tokens_;
  bool worker_certificates_;
};

void TaskToProto(const TaskView& t, v1::TaskStatus* out) {
  out->set_task_id(t.task_id);
  ToProto(t.workload, out->mutable_workload());
  out->set_workload_key(t.workload_key);
  out->set_target_key(t.target_key);
  out->set_state(StateToProto(t.state));
  out->set_trials(t.trials);
  out->set_stored(t.stored);
  out->set_measured(t.measured);
  out->set_errors(t.errors);
  out->set_best_seconds(t.best_seconds);
  if (t.best_config) ToProto(*t.best_config, out->mutable_best_config());
  out->set_message(t.message);
  out->set_from_store(t.from_store);
  out->set_shared_with_job(t.shared_with_job);
  out->set_eta_seconds(t.eta_seconds);
}

void JobToProto(const JobView& j, v1::JobStatus* out) {
  out->set_job_id(j.id);
  out->set_name(j.name);
  out->set_state(StateToProto(j.state));
  out->set_client(j.client);
  out->set_priority(j.priority);
  out->set_created(j.created);
  out->set_finished(j.finished);
  for (const auto& t : j.tasks) TaskToProto(t, out->add_tasks());
  out->set_eta_seconds(j.eta_seconds);
  out->set_strategy(StrategyToProto(j.strategy));
  out->mutable_target()->set_spec(j.target_spec);
  out->mutable_target()->set_threads(j.threads);
  out->set_target_key(j.target_key);
}

// A workload from the wire, the dtype defaulted.
compiler::Workload ConvertWorkload(const v1::Workload& p) {
  compiler::Workload w = FromProto(p);
  if (w.dtype.empty()) w.dtype = "float32";
  return w;
}

// ConvertWorkload, checked by its template; errors name `field`.
StatusOr<compiler::Workload> WorkloadFromProto(const v1::Workload& p, const std::string& field) {
  compiler::Workload w = ConvertWorkload(p);
  auto tmpl = compiler::FindTemplate(w.op);
  if (!tmpl.ok()) return Status(tmpl.status().code(), field + ".op: " + tmpl.status().message());
  if (Status s = (*tmpl)->Validate(w); !s.ok()) return InvalidArgument(field + ": " + s.message());
  return w;
}

StatusOr<int64_t> PageToken(const std::string& token) {
  if (token.empty()) return int64_t{0};
  try {
    size_t used = 0;
    long long v = std::stoll(token, &used);
    if (used == token.size() && v >= 0) return static_cast<int64_t>(v);
  } catch (...) {
  }
  return InvalidArgument("page_token: '" + token + "' is not a token this server gave");
}

StatusOr<int> PageSize(int size) {
  if (size < 0 || size > 1000) return InvalidArgument("page_size: " + std::to_string(size) + " is not in 0..1000");
  return size == 0 ? 100 : size;
}

class TuningServiceImpl final : public v1::TuningService::Service {
 public:
  TuningServiceImpl(db::Store& store, JobManager& jobs, const Authorizer& auth, const TuningServerOptions& options)
      : store_(store), jobs_(jobs), auth_(auth), options_(options), source_(tuner::MakeDbConfigSource(store)) {}

  grpc::Status SubmitJob(grpc::ServerContext* ctx, const v1::SubmitJobRequest* req,
                         v1::SubmitJobResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "SubmitJob", &who); !s.ok()) return s;
    JobRequest r;
    r.client = who.name;
    r.name = req->name();
    r.priority = req->priority();
    // JobManager::Submit checks them (template, memory cap), naming workloads[i].
    for (const auto& w : req->workloads()) r.workloads.push_back(ConvertWorkload(w));
    r.target_spec = req->target().spec().empty() ? "host" : req->target().spec();
    r.threads = req->target().threads() == 0 ? 1 : req->target().threads();
    if (r.threads < 0) return Invalid("target.threads: " + std::to_string(r.threads) + " is negative");
    if (req->trials() != 0) r.tune.trials = req->trials();
    if (req->batch_size() != 0) r.tune.batch_size = req->batch_size();
    if (req->seed() != 0) r.tune.seed = req->seed();
    auto strategy = StrategyFromProto(req->strategy(), req->cost_model());
    if (!strategy.ok()) return ToGrpc(strategy.status());
    r.pick_strategy = !*strategy;
    if (*strategy) r.tune.strategy = **strategy;
    if (!(req->worker_deadline_seconds() >= 0)) return Invalid("worker_deadline_seconds: must not be negative");
    r.worker_deadline_seconds = req->worker_deadline_seconds();
    auto id = jobs_.Submit(r);
    if (!id.ok()) return ToGrpc(id.status());
    resp->set_job_id(*id);
    if (auto view = jobs_.Get(*id); view.ok()) {
      resp->set_strategy(StrategyToProto(view->strategy));
      resp->set_strategy_note(view->strategy_note);
    }
    return grpc::Status::OK;
  }

  grpc::Status WatchJob(grpc::ServerContext* ctx, const v1::JobRef* req,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "WatchJob", &who); !s.ok()) return s;
    int64_t seq = -1;
    while (!ctx->IsCancelled()) {
      auto events = jobs_.Events(req->job_id(), seq, std::chrono::milliseconds(250));
      if (!events.ok()) return ToGrpc(events.status());
      for (const JobEvent& e : *events) {
        v1::JobEvent out;
        out.set_kind(static_cast<v1::JobEvent::Kind>(e.kind));
        out.set_sequence(e.sequence);
        out.set_task_index(e.task_index);
        out.set_message(e.message);
        JobToProto(e.job, out.mutable_job());
        if (!writer->Write(out)) return grpc::Status(grpc::StatusCode::CANCELLED, "the watcher left");
        seq = e.sequence;
        bool ended =
            e.kind == JobEventKind::kJobDone || (e.kind == JobEventKind::kSnapshot && db::Terminal(e.job.state));
        if (ended) return grpc::Status::OK;
      }
      if (stopping_)
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down; watch again later");
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the watcher left");
  }

  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::JobRef* req, v1::JobStatus* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "GetJob", &who); !s.ok()) return s;
    auto job = jobs_.Get(req->job_id());
    if (!job.ok()) return ToGrpc(job.status());
    JobToProto(*job, resp);
    return grpc::Status::OK;
  }

  grpc::Status ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req, v1::ListJobsResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "ListJobs", &who); !s.ok()) return s;
    auto state = StateFilterFromProto(req->state());
    if (!state.ok()) return ToGrpc(state.status());
    for (const JobView& j : jobs_.List(*state)) JobToProto(j, resp->add_jobs());
    return grpc::Status::OK;
  }

  grpc::Status CancelJob(grpc::ServerContext* ctx, const v1::JobRef* req, v1::JobStatus* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "CancelJob", &who); !s.ok()) return s;
    auto job = jobs_.Get(req->job_id());
    if (!job.ok()) return ToGrpc(job.status());
    if (job->client != who.name)
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "job_id: job " + std::to_string(req->job_id()) + " belongs to " + job->client);
    auto cancelled = jobs_.Cancel(req->job_id());
    if (!cancelled.ok()) return ToGrpc(cancelled.status());
    JobToProto(*cancelled, resp);
    return grpc::Status::OK;
  }

  grpc::Status Lookup(grpc::ServerContext* ctx, const v1::LookupRequest* req, v1::LookupResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "Lookup", &who); !s.ok()) return s;
    auto target = LookupTarget(req->target());
    if (!target.ok()) return ToGrpc(target.status());
    return ToGrpc(LookupOne(req->workload(), "workload", *target, resp));
  }

  grpc::Status LookupBatch(grpc::ServerContext* ctx, const v1::LookupBatchRequest* req,
                           v1::LookupBatchResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "LookupBatch", &who); !s.ok()) return s;
    if (req->workloads_size() > options_.max_lookup_batch)
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "workloads: " + std::to_string(req->workloads_size()) + " workloads, at most " +
                              std::to_string(options_.max_lookup_batch) + " per LookupBatch");
    auto target = LookupTarget(req->target());
    if (!target.ok()) return ToGrpc(target.status());
    for (int i = 0; i < req->workloads_size(); ++i) {
      Status s = LookupOne(req->workloads(i), "workloads[" + std::to_string(i) + "]", *target, resp->add_results());
      if (!s.ok()) return ToGrpc(s);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListWorkloads(grpc::ServerContext* ctx, const v1::ListWorkloadsRequest* req,
                             v1::ListWorkloadsResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "ListWorkloads", &who); !s.ok()) return s;
    auto after = PageToken(req->page_token());
    if (!after.ok()) return ToGrpc(after.status());
    auto size = PageSize(req->page_size());
    if (!size.ok()) return ToGrpc(size.status());
    auto rows = store_.Workloads(*after, *size + 1);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (size_t i = 0; i < rows->size() && static_cast<int>(i) < *size; ++i) {
      const db::WorkloadRow& w = (*rows)[i];
      v1::WorkloadSummary* out = resp->add_workloads();
      out->set_key(w.key);
      if (auto parsed = compiler::Workload::FromJson(w.json); parsed.ok()) ToProto(*parsed, out->mutable_workload());
      out->set_records(w.records);
      out->set_targets(w.targets);
    }
    if (static_cast<int>(rows->size()) > *size) resp->set_next_page_token(std::to_string((*rows)[*size - 1].id));
    return grpc::Status::OK;
  }

  grpc::Status ListRecords(grpc::ServerContext* ctx, const v1::ListRecordsRequest* req,
                           v1::ListRecordsResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "ListRecords", &who); !s.ok()) return s;
    auto after = PageToken(req->page_token());
    if (!after.ok()) return ToGrpc(after.status());
    auto size = PageSize(req->page_size());
    if (!size.ok()) return ToGrpc(size.status());
    db::HistoryQuery q;
    q.workload_key = req->workload_key();
    q.target_key = req->target_key();
    q.after_id = *after;
    q.limit = *size + 1;
    auto records = store_.History(q);
    if (!records.ok()) return ToGrpc(records.status());
    for (size_t i = 0; i < records->size() && static_cast<int>(i) < *size; ++i) {
      const db::Record& r = (*records)[i];
      v1::RecordEntry* out = resp->add_records();
      out->set_id(r.id);
      out->set_workload_key(r.workload_key);
      out->set_target_key(r.target_key);
      if (auto c = compiler::ConfigFromJson(r.config_json); c.ok()) ToProto(*c, out->mutable_config());
      for (double c : r.costs) out->add_costs(c);
      out->set_error(static_cast<v1::ErrorKind>(r.error));
      out->set_error_message(r.error_message);
      out->set_worker(r.worker);
      out->set_job_id(r.job_id);
      out->set_timestamp(r.timestamp);
    }
    if (static_cast<int>(records->size()) > *size) resp->set_next_page_token(std::to_string((*records)[*size - 1].id));
    return grpc::Status::OK;
  }

  grpc::Status ImportLogs(grpc::ServerContext* ctx, grpc::ServerReader<v1::LogChunk>* reader,
                          v1::ImportLogsResponse* resp) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "ImportLogs", &who); !s.ok()) return s;
    constexpr size_t kMaxLog = size_t{1} << 30;
    std::string text;
    v1::LogChunk chunk;
    while (reader->Read(&chunk)) {
      if (text.size() + chunk.data().size() > kMaxLog)
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "data: the log is over 1 GiB; send it in parts");
      text += chunk.data();
    }
    if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f && static_cast<unsigned char>(text[1]) == 0x8b)
      return Invalid("data: a gzip file; send the log uncompressed (gRPC can compress on the wire)");
    auto stats = tuner::ImportLogText(store_, text, "log");
    if (!stats.ok()) return ToGrpc(stats.status());
    resp->set_imported(stats->imported);
    resp->set_duplicates(stats->duplicates);
    spdlog::info("import by {}: {} records, {} duplicates", who.name, stats->imported, stats->duplicates);
    return grpc::Status::OK;
  }

  grpc::Status ExportLogs(grpc::ServerContext* ctx, const v1::ExportLogsRequest* req,
                          grpc::ServerWriter<v1::LogChunk>* writer) override {
    Principal who;
    if (auto s = auth_.Check(ctx, Role::kClient, "ExportLogs", &who); !s.ok()) return s;
    db::HistoryQuery q;
    q.workload_key = req->workload_key();
    q.target_key = req->target_key();
    std::ostringstream out;
    if (Status s = store_.Export(out, q); !s.ok()) return ToGrpc(s);
    const std::string text = out.str();
    constexpr size_t kChunk = 1 << 20;
    for (size_t at = 0; at < text.size(); at += kChunk) {
      v1::LogChunk c;
      c.set_data(text.substr(at, kChunk));
      if (!writer->Write(c)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client left");
    }
    return grpc::Status::OK;
  }

  void Stop() { stopping_ = true; }

 private:
  StatusOr<compiler::Target> LookupTarget(const v1::TargetSelector& sel) {
    std::string spec = sel.spec().empty() ? "host" : sel.spec();
    int threads = sel.threads() == 0 ? 1 : sel.threads();
    std::string key = spec + "\n" + std::to_string(threads);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = targets_.find(key); it != targets_.end()) return it->second;
    }
    auto t = DeployTarget(spec, threads);
    if (!t.ok()) return Status(t.status().code(), "target: " + t.status().message());
    std::lock_guard<std::mutex> lock(mu_);
    if (targets_.size() < 1024) targets_.emplace(key, *t);
    return *t;
  }

  Status LookupOne(const v1::Workload& p, const std::string& field, const compiler::Target& target,
                   v1::LookupResponse* out) {
    PT_ASSIGN_OR_RETURN(compiler::Workload w, WorkloadFromProto(p, field));
    PT_ASSIGN_OR_RETURN(compiler::ConfigChoice c, source_->BestConfig(w, target));
    out->set_level(c.level);
    const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w.op);
    ToProto(c.level == "default" ? tmpl->DefaultConfig(w, target) : c.config, out->mutable_config());
    out->set_cost_seconds(c.cost_seconds);
    out->set_workload_key(w.Key());
    for (size_t i = 0; i < c.skipped.size() && i < 5; ++i) out->add_skipped(c.skipped[i]);
    return OkStatus();
  }

  db::Store& store_;
  JobManager& jobs_;
  const Authorizer& auth_;
  TuningServerOptions options_;
  std::unique_ptr<compiler::ConfigSource> source_;
  std::mutex mu_;
  std::map<std::string, compiler::Target> targets_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

struct TuningServer::Impl {
  MeasureQueue queue;
  std::unique_ptr<JobManager> jobs;
  std::unique_ptr<Authorizer> auth;
  std::unique_ptr<TuningServiceImpl> tuning;
  std::unique_ptr<grpc::Service> workers;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

TuningServer::TuningServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TuningServer::~TuningServer() { Shutdown(); }
int TuningServer::port() const { return impl_->port; }
MeasureQueue& TuningServer::queue() { return impl_->queue; }
JobManager& TuningServer::jobs() { return *impl_->jobs; }

StatusOr<std::unique_ptr<TuningServer>> TuningServer::Start(db::Store& store, const TuningServerOptions& o) {
  auto impl = std::make_unique<Impl>();
  std::optional<TokenTable> tokens;
  if (!o.tokens_file.empty()) {
    PT_ASSIGN_OR_RETURN(TokenTable t, TokenTable::Load(o.tokens_file));
    if (t.size() == 0) return InvalidArgument("--tokens: '" + o.tokens_file + "' holds no token");
    tokens = std::move(t);
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty()) return InvalidArgument("--tls-cert and --tls-key go together");
    grpc::SslServerCredentialsOptions ssl(o.tls_worker_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                                  : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    PT_ASSIGN_OR_RETURN(pair.cert_chain, ReadSmallFile(o.tls_cert, "--tls-cert"));
    PT_ASSIGN_OR_RETURN(pair.private_key, ReadSmallFile(o.tls_key, "--tls-key"));
    ssl.pem_key_cert_pairs.push_back(pair);
    if (!o.tls_worker_ca.empty()) {
      PT_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadSmallFile(o.tls_worker_ca, "--tls-worker-ca"));
    }
    creds = grpc::SslServerCredentials(ssl);
  } else if (!o.tls_worker_ca.empty()) {
    return InvalidArgument("--tls-worker-ca needs --tls-cert and --tls-key");
  }
  impl->auth = std::make_unique<Authorizer>(std::move(tokens), !o.tls_worker_ca.empty());
  PT_ASSIGN_OR_RETURN(impl->jobs, JobManager::Create(store, impl->queue, o.jobs));
  impl->tuning = std::make_unique<TuningServiceImpl>(store, *impl->jobs, *impl->auth, o);
  WorkerServiceOptions wo = o.workers;
  wo.reconnect_after_shutdown = true;
  const Authorizer* auth = impl->auth.get();
  impl->workers = NewWorkerService(impl->queue, wo, [auth](grpc::ServerContext* ctx) {
    Principal p;
    return auth->Check(ctx, Role::kWorker, "Lease", &p);
  });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // One server per port: gRPC's default SO_REUSEPORT would let a second server (or a
  // stale one) share the port and answer half of the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(o.listen, creds, &impl->port);
  builder.SetMaxReceiveMessageSize(o.max_request_bytes);
  builder.RegisterService(impl->tuning.get());
  builder.RegisterService(impl->workers.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    impl->jobs->Shutdown();
    return Status(StatusCode::kUnavailable, "cannot listen on " + o.listen);
  }
  if (auto* health = impl->server->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus("priortune.v1.TuningService", true);
    health->SetServingStatus("priortune.v1.WorkerService", true);
  }
  return std::unique_ptr<TuningServer>(new TuningServer(std::move(impl)));
}

void TuningServer::Shutdown(double grace_seconds) {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (auto* health = impl_->server->GetHealthCheckService()) health->SetServingStatus(false);
  impl_->tuning->Stop();
  impl_->jobs->Shutdown();  // runs stop; their tasks stay running in the store
  impl_->queue.Shutdown();  // worker streams end with a goodbye: reconnect later
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000)));
  impl_->server->Wait();
}

}  // namespace priortune::server
