// The neural cost model: the only file that includes torch/torch.h (it costs ~15 s to
// compile). Every LibTorch call that can throw runs inside Guard(), which turns c10::Error
// and std::exception into an Internal status.
//
// The network (per candidate; x scaled by 1 / the training set's column max):
//   slots  x[:, 0 : S*P] as S rows of P ──> Linear-ReLU-Linear-ReLU ──> masked sum ──┐
//   global x[:, S*P : ]  ─────────────────────────────────────────────────────────────┴─> concat
//        ──> Linear-ReLU ──> (Linear-ReLU + residual) ──> Linear ──> score
// An empty slot (all zeros) is masked out of the sum, so that a program of one store group
// and one of four are scored on the same scale.
//
// Training (TrainNeuralModel):
//   joint: each step draws tasks_per_batch tasks and rows_per_task rows of each, and
//          minimises the ranking loss within each task (pairs never cross tasks).
//   meta:  joint pretraining, then Reptile: for meta_batch tasks, copy the weights phi,
//          adapt them as Fit would (adapt_steps Adam steps on a support set of 8 to
//          support_size of the task's rows), and move phi towards the adapted weights:
//          phi += meta_lr * (1 - t / T) * mean(theta - phi).
// Ranking loss: softplus(-(s_i - s_j)) over pairs where i is faster than j, weighted by 1
// (pairwise) or by the change of NDCG that swapping them makes (lambdarank, gain = the
// normalised throughput), normalised by the sum of the weights.
//
// Blob layout: kBlobMagic, one JSON header line (metadata, network shape, feature scales,
// adaptation settings, byte count and hash of the weights), the weights as torch::save
// writes them.
#include "costmodel/neural_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "compiler/target/target.h"
#include "costmodel/features.h"
#include "costmodel/internal/blob.h"

namespace priortune::costmodel {

Status NeuralOptions::Validate() const {
  auto positive = [](const char* what, double v) -> Status {
    if (!(v > 0))
      return InvalidArgument(std::string("neural model ") + what + " must be positive, got " + std::to_string(v));
    return OkStatus();
  };
  PT_RETURN_IF_ERROR(positive("hidden", hidden));
  if (loss != "lambdarank" && loss != "pairwise")
    return InvalidArgument("neural model loss must be lambdarank or pairwise, got '" + loss + "'");
  if (adapt_steps < 0)
    return InvalidArgument("neural model adapt steps must be >= 0, got " + std::to_string(adapt_steps));
  PT_RETURN_IF_ERROR(positive("adapt lr", adapt_lr));
  PT_RETURN_IF_ERROR(positive("adapt batch", adapt_batch));
  if (adapt_scope != "all" && adapt_scope != "head")
    return InvalidArgument("neural model adapt scope must be all or head, got '" + adapt_scope + "'");
  PT_RETURN_IF_ERROR(positive("scratch steps", scratch_steps));
  PT_RETURN_IF_ERROR(positive("scratch lr", scratch_lr));
  if (!(weight_decay >= 0))
    return InvalidArgument("neural model weight decay must be >= 0, got " + std::to_string(weight_decay));
  PT_RETURN_IF_ERROR(positive("grad clip", grad_clip));
  PT_RETURN_IF_ERROR(positive("threads", threads));
  return OkStatus();
}

Status NeuralTrainOptions::Validate() const {
  if (method != "joint" && method != "meta")
    return InvalidArgument("training method must be joint or meta, got '" + method + "'");
  if (steps < 0) return InvalidArgument("training steps must be >= 0, got " + std::to_string(steps));
  if (!(lr > 0)) return InvalidArgument("training lr must be positive, got " + std::to_string(lr));
  if (tasks_per_batch < 1)
    return InvalidArgument("tasks per batch must be >= 1, got " + std::to_string(tasks_per_batch));
  if (rows_per_task < 2) return InvalidArgument("rows per task must be >= 2, got " + std::to_string(rows_per_task));
  if (method == "meta") {
    if (meta_iterations < 1)
      return InvalidArgument("meta iterations must be >= 1, got " + std::to_string(meta_iterations));
    if (meta_batch < 1) return InvalidArgument("meta batch must be >= 1, got " + std::to_string(meta_batch));
    if (support_size < 8) return InvalidArgument("support size must be >= 8, got " + std::to_string(support_size));
    if (!(meta_lr > 0 && meta_lr <= 1))
      return InvalidArgument("meta lr must be in (0, 1], got " + std::to_string(meta_lr));
  }
  if (method == "joint" && steps == 0) return InvalidArgument("joint training needs steps >= 1");
  return OkStatus();
}

namespace {

using torch::Tensor;

// Runs f, turning LibTorch's exceptions into Internal.
template <typename F>
Status Guard(const char* what, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    return Internal(std::string("libtorch (") + what + "): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("libtorch (") + what + "): " + e.what());
  }
}

struct NetImpl : torch::nn::Module {
  NetImpl(int64_t slots, int64_t slot_size, int64_t global, int64_t hidden)
      : slots(slots),
        slot_size(slot_size),
        global(global),
        enc1(register_module("enc1", torch::nn::Linear(slot_size, hidden))),
        enc2(register_module("enc2", torch::nn::Linear(hidden, hidden))),
        dec1(register_module("dec1", torch::nn::Linear(hidden + global, hidden))),
        dec2(register_module("dec2", torch::nn::Linear(hidden, hidden))),
        out(register_module("out", torch::nn::Linear(hidden, 1))) {}

  // x: [n, slots * slot_size + global], scaled; returns [n].
  Tensor forward(const Tensor& x) {
    const int64_t n = x.size(0);
    Tensor s = x.narrow(1, 0, slots * slot_size).reshape({n, slots, slot_size});
    Tensor mask = s.abs().sum(2, /*keepdim=*/true).gt(0).to(torch::kFloat);
    Tensor h = torch::relu(enc2(torch::relu(enc1(s))));
    h = (h * mask).sum(1);
    Tensor z = torch::relu(dec1(torch::cat({h, x.narrow(1, slots * slot_size, global)}, 1)));
    z = torch::relu(dec2(z)) + z;
    return out(z).squeeze(1);
  }

  // The decoder: what a head-only adaptation changes.
  std::vector<Tensor> HeadParameters() {
    std::vector<Tensor> p;
    for (auto* m : {&dec1, &dec2, &out})
      for (const auto& t : (*m)->parameters()) p.push_back(t);
    return p;
  }

  int64_t slots, slot_size, global;
  torch::nn::Linear enc1, enc2, dec1, dec2, out;
};
TORCH_MODULE(Net);

std::vector<Tensor> Snapshot(Net& net) {
  std::vector<Tensor> w;
  for (const auto& p : net->parameters()) w.push_back(p.detach().clone());
  return w;
}

void Restore(Net& net, const std::vector<Tensor>& w) {
  torch::NoGradGuard no_grad;
  auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(w[i]);
}

// The ranking loss of scores s against labels y (higher: faster) within groups g.
// Undefined (an empty tensor) when no pair of the same group differs in label.
Tensor RankLoss(const Tensor& s, const Tensor& y, const Tensor& g, bool lambdarank) {
  Tensor same = g.unsqueeze(1).eq(g.unsqueeze(0));
  Tensor better = y.unsqueeze(1).gt(y.unsqueeze(0) + 1e-6).logical_and(same);  // [i][j]: i faster than j
  Tensor weight;
  {
    torch::NoGradGuard no_grad;
    weight = better.to(torch::kFloat);
    if (lambdarank) {
      Tensor sd = s.detach();
      Tensor rank = sd.unsqueeze(0).gt(sd.unsqueeze(1)).logical_and(same).sum(1).to(torch::kFloat);
      Tensor discount = torch::reciprocal(torch::log2(rank + 2.0));
      Tensor ideal_rank = y.unsqueeze(0).gt(y.unsqueeze(1)).logical_and(same).sum(1).to(torch::kFloat);
      Tensor ideal = y / torch::log2(ideal_rank + 2.0);
      Tensor idcg = (same.to(torch::kFloat) * ideal.unsqueeze(0)).sum(1).clamp_min(1e-9);
      Tensor delta = (y.unsqueeze(1) - y.unsqueeze(0)).abs() * (discount.unsqueeze(1) - discount.unsqueeze(0)).abs() /
                     idcg.unsqueeze(1);
      weight = weight * delta;
    }
  }
  double total = weight.sum().item<double>();
  if (!(total > 0)) return Tensor();
  Tensor pair_loss = torch::softplus(-(s.unsqueeze(1) - s.unsqueeze(0)));
  return (pair_loss * weight).sum() / total;
}

// Training tensors of a dataset: scaled features, labels and groups.
struct Batch {
  Tensor x, y, g;
};

class NeuralModel : public CostModel {
 public:
  NeuralModel(NeuralOptions options, int64_t features, int64_t hidden)
      : options_(std::move(options)),
        features_(features),
        slot_size_(SlotFeatureCount()),
        global_(features - kStoreSlots * SlotFeatureCount()),
        hidden_(hidden),
        rng_(options_.seed) {
    torch::manual_seed(options_.seed);
    net_ = Net(kStoreSlots, slot_size_, global_, hidden_);
    init_ = Snapshot(net_);
    scale_ = torch::ones({features_});
  }

  Status Fit(const Dataset& data) override {
    if (data.rows() == 0) return InvalidArgument("cost model: no samples to fit");
    if (data.cols != static_cast<size_t>(features_))
      return InvalidArgument("cost model: rows of " + std::to_string(data.cols) + " features, the model takes " +
                             std::to_string(features_));
    return Guard("fit", [&]() -> Status {
      Threads();
      if (!has_prior_) LearnScale(data);
      Batch b = ToBatch(data);
      Restore(net_, init_);
      int steps = has_prior_ ? options_.adapt_steps : options_.scratch_steps;
      double lr = has_prior_ ? options_.adapt_lr : options_.scratch_lr;
      Adapt(b, steps, lr, /*scoped=*/has_prior_);
      trained_ = true;
      meta_.samples = static_cast<int64_t>(data.rows());
      if (&data != &samples_) samples_ = data;
      return OkStatus();
    });
  }

  Status Update(const Dataset& more) override {
    Dataset all = samples_;
    all.Append(more);
    return Fit(all);
  }

  StatusOr<std::vector<float>> Predict(const float* features, size_t rows) const override {
    std::vector<float> out(rows, 0.f);
    if (rows == 0) return out;
    if (!trained()) return out;
    Status s = Guard("predict", [&]() -> Status {
      Threads();
      torch::NoGradGuard no_grad;
      constexpr size_t kChunk = 4096;
      for (size_t at = 0; at < rows; at += kChunk) {
        int64_t n = static_cast<int64_t>(std::min(kChunk, rows - at));
        Tensor x =
            torch::from_blob(const_cast<float*>(features + at * features_), {n, features_}, torch::kFloat) * scale_;
        Tensor score = net_->forward(x).contiguous();
        std::copy(score.data_ptr<float>(), score.data_ptr<float>() + n, out.begin() + at);
      }
      return OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  StatusOr<std::string> Save() const override {
    std::string weights;
    PT_RETURN_IF_ERROR(Guard("save", [&]() -> Status {
      std::ostringstream os;
      torch::save(net_, os);
      weights = os.str();
      return OkStatus();
    }));
    nlohmann::json h;
    internal::WriteMetadata(meta_, h);  // kind neural, objective = the loss
    h["method"] = method_;
    h["hidden"] = hidden_;
    h["slots"] = static_cast<int64_t>(kStoreSlots);
    h["slot_size"] = slot_size_;
    h["trained"] = trained();
    std::vector<float> scale(scale_.data_ptr<float>(), scale_.data_ptr<float>() + features_);
    h["scale"] = scale;
    h["adapt_steps"] = options_.adapt_steps;
    h["adapt_lr"] = options_.adapt_lr;
    h["adapt_batch"] = options_.adapt_batch;
    h["adapt_scope"] = options_.adapt_scope;
    h["weight_decay"] = options_.weight_decay;
    h["grad_clip"] = options_.grad_clip;
    h["model_bytes"] = weights.size();
    h["model_hash"] = compiler::HashKey(weights);
    return std::string(internal::kBlobMagic) + h.dump() + "\n" + weights;
  }

  bool trained() const override { return trained_ || has_prior_; }
  const ModelMetadata& metadata() const override { return meta_; }
  ModelMetadata& mutable_metadata() override { return meta_; }

  // ---- for TrainNeuralModel, NeuralRankingLoss and the loader ----

  void LearnScale(const Dataset& data) {
    std::vector<float> max(features_, 0.f);
    for (size_t r = 0; r < data.rows(); ++r)
      for (int64_t c = 0; c < features_; ++c) max[c] = std::max(max[c], std::abs(data.row(r)[c]));
    std::vector<float> scale(features_);
    for (int64_t c = 0; c < features_; ++c) scale[c] = max[c] > 0 ? 1.f / max[c] : 1.f;
    scale_ = torch::tensor(scale);
  }

  Batch ToBatch(const Dataset& data) const {
    const int64_t n = static_cast<int64_t>(data.rows());
    Batch b;
    b.x = torch::from_blob(const_cast<float*>(data.features.data()), {n, features_}, torch::kFloat) * scale_;
    std::vector<double> y = NormalisedThroughput(data);
    b.y = torch::tensor(std::vector<float>(y.begin(), y.end()));
    b.g = torch::tensor(std::vector<int64_t>(data.groups.begin(), data.groups.end()));
    return b;
  }

  // One optimiser step on rows `idx` of b (the optimiser holds the weights it changes);
  // false if they hold no ranked pair.
  bool Step(torch::optim::Optimizer& opt, const Batch& b, const Tensor& idx, double* loss_out = nullptr) {
    Tensor s = net_->forward(b.x.index_select(0, idx));
    Tensor loss = RankLoss(s, b.y.index_select(0, idx), b.g.index_select(0, idx), options_.loss == "lambdarank");
    if (!loss.defined()) return false;
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net_->parameters(), options_.grad_clip);
    opt.step();
    for (auto& p : net_->parameters()) p.mutable_grad() = Tensor();  // weights the optimiser does not hold
    if (loss_out) *loss_out = loss.item<double>();
    return true;
  }

  // `steps` Adam steps from the current weights on b, minibatches of adapt_batch rows;
  // `scoped`: only the weights options_.adapt_scope names.
  void Adapt(const Batch& b, int steps, double lr, bool scoped) {
    const int64_t n = b.x.size(0);
    std::vector<Tensor> params = scoped && options_.adapt_scope == "head" ? net_->HeadParameters() : net_->parameters();
    torch::optim::Adam opt(params, torch::optim::AdamOptions(lr).weight_decay(options_.weight_decay));
    std::vector<int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    for (int step = 0; step < steps; ++step) {
      std::vector<int64_t> pick = all;
      if (n > options_.adapt_batch) {
        std::shuffle(pick.begin(), pick.end(), rng_);
        pick.resize(options_.adapt_batch);
      }
      if (!Step(opt, b, torch::tensor(pick))) return;  // nothing to rank: nothing to learn
    }
  }

  double Loss(const Batch& b) {
    torch::NoGradGuard no_grad;
    // Per group: the n x n pair matrices of all rows at once would not fit.
    std::map<int64_t, std::vector<int64_t>> rows;
    auto g = b.g.accessor<int64_t, 1>();
    for (int64_t i = 0; i < b.g.size(0); ++i) rows[g[i]].push_back(i);
    double total = 0;
    int counted = 0;
    for (const auto& [group, idx] : rows) {
      Tensor t = torch::tensor(idx);
      Tensor loss = RankLoss(net_->forward(b.x.index_select(0, t)), b.y.index_select(0, t), b.g.index_select(0, t),
                             options_.loss == "lambdarank");
      if (!loss.defined()) continue;
      total += loss.item<double>();
      ++counted;
    }
    return counted > 0 ? total / counted : 0;
  }

  void Threads() const {
    if (torch::get_num_threads() != options_.threads) torch::set_num_threads(options_.threads);
  }

  NeuralOptions options_;
  int64_t features_, slot_size_, global_, hidden_;
  std::mt19937_64 rng_;
  mutable Net net_{nullptr};  // forward is not const; Predict does not change the weights
  std::vector<Tensor> init_;  // the weights every Fit starts from
  Tensor scale_;
  bool has_prior_ = false;  // init_ was trained (offline or loaded), not random
  bool trained_ = false;
  std::string method_ = "scratch";
  ModelMetadata meta_;
  Dataset samples_;
};

// Rows of each group with at least two rows, by group.
std::vector<std::vector<int64_t>> TaskRows(const Dataset& data) {
  std::map<int, std::vector<int64_t>> by;
  for (size_t i = 0; i < data.rows(); ++i) by[data.groups[i]].push_back(static_cast<int64_t>(i));
  std::vector<std::vector<int64_t>> out;
  for (auto& [g, rows] : by)
    if (rows.size() >= 2) out.push_back(std::move(rows));
  return out;
}

std::vector<int64_t> Sample(const std::vector<int64_t>& from, size_t n, std::mt19937_64& rng) {
  std::vector<int64_t> v = from;
  std::shuffle(v.begin(), v.end(), rng);
  if (v.size() > n) v.resize(n);
  return v;
}

Status TrainJoint(NeuralModel& m, const Batch& b, const std::vector<std::vector<int64_t>>& tasks,
                  const NeuralTrainOptions& t, std::mt19937_64& rng) {
  torch::optim::Adam opt(m.net_->parameters(), torch::optim::AdamOptions(t.lr).weight_decay(m.options_.weight_decay));
  std::uniform_int_distribution<size_t> task(0, tasks.size() - 1);
  double avg = 0;
  int counted = 0;
  for (int step = 1; step <= t.steps; ++step) {
    std::vector<int64_t> idx;
    for (int k = 0; k < t.tasks_per_batch; ++k) {
      auto rows = Sample(tasks[task(rng)], t.rows_per_task, rng);
      idx.insert(idx.end(), rows.begin(), rows.end());
    }
    double loss = 0;
    if (m.Step(opt, b, torch::tensor(idx), &loss)) {
      avg += loss;
      ++counted;
    }
    if (t.log && t.log_every > 0 && step % t.log_every == 0) {
      char line[128];
      std::snprintf(line, sizeof(line), "joint step %d/%d: ranking loss %.4f", step, t.steps,
                    counted > 0 ? avg / counted : 0.0);
      t.log(line);
      avg = 0;
      counted = 0;
    }
  }
  return OkStatus();
}

Status TrainReptile(NeuralModel& m, const Batch& b, const std::vector<std::vector<int64_t>>& tasks,
                    const NeuralTrainOptions& t, std::mt19937_64& rng) {
  std::vector<Tensor> phi = Snapshot(m.net_);
  std::uniform_int_distribution<size_t> task(0, tasks.size() - 1);
  std::uniform_int_distribution<int> support(8, t.support_size);
  for (int it = 0; it < t.meta_iterations; ++it) {
    double epsilon = t.meta_lr * (1.0 - static_cast<double>(it) / t.meta_iterations);
    std::vector<Tensor> sum;
    for (const auto& p : phi) sum.push_back(torch::zeros_like(p));
    for (int k = 0; k < t.meta_batch; ++k) {
      Restore(m.net_, phi);
      auto rows = Sample(tasks[task(rng)], static_cast<size_t>(support(rng)), rng);
      Batch s{b.x.index_select(0, torch::tensor(rows)), b.y.index_select(0, torch::tensor(rows)),
              b.g.index_select(0, torch::tensor(rows))};
      // Labels are normalised per group over all of its rows: the support set's best may
      // be below 1, which the ranking loss does not mind.
      m.Adapt(s, m.options_.adapt_steps, m.options_.adapt_lr, /*scoped=*/true);
      auto theta = m.net_->parameters();
      for (size_t i = 0; i < phi.size(); ++i) sum[i] += theta[i].detach() - phi[i];
    }
    for (size_t i = 0; i < phi.size(); ++i) phi[i] += sum[i] * (epsilon / t.meta_batch);
    if (t.log && t.log_every > 0 && (it + 1) % t.log_every == 0) {
      Restore(m.net_, phi);
      char line[128];
      std::snprintf(line, sizeof(line), "reptile iteration %d/%d: ranking loss %.4f (all tasks, un-adapted)", it + 1,
                    t.meta_iterations, m.Loss(b));
      t.log(line);
    }
  }
  Restore(m.net_, phi);
  return OkStatus();
}

std::unique_ptr<NeuralModel> NewModel(const NeuralOptions& options, size_t feature_count,
                                      const std::string& target_key) {
  auto m = std::make_unique<NeuralModel>(options, static_cast<int64_t>(feature_count), options.hidden);
  m->meta_.kind = CostModelKind::kNeural;
  m->meta_.feature_version = kFeatureVersion;
  m->meta_.feature_count = feature_count;
  m->meta_.target_key = target_key;
  m->meta_.objective = options.loss;
  return m;
}

Status CheckLayout(size_t feature_count) {
  size_t slots = static_cast<size_t>(kStoreSlots * SlotFeatureCount());
  if (feature_count <= slots)
    return InvalidArgument("neural model: " + std::to_string(feature_count) + " features, the layout needs more than " +
                           std::to_string(slots));
  return OkStatus();
}

class Frozen : public CostModel {
 public:
  explicit Frozen(std::shared_ptr<const CostModel> m) : model_(std::move(m)), meta_(model_->metadata()) {}
  Status Fit(const Dataset&) override { return OkStatus(); }
  Status Update(const Dataset&) override { return OkStatus(); }
  StatusOr<std::vector<float>> Predict(const float* features, size_t rows) const override {
    return model_->Predict(features, rows);
  }
  StatusOr<std::string> Save() const override { return model_->Save(); }
  bool trained() const override { return model_->trained(); }
  const ModelMetadata& metadata() const override { return meta_; }
  ModelMetadata& mutable_metadata() override { return meta_; }

 private:
  std::shared_ptr<const CostModel> model_;
  ModelMetadata meta_;
};

}  // namespace

StatusOr<std::unique_ptr<CostModel>> MakeNeuralModel(const NeuralOptions& options, size_t feature_count,
                                                     const std::string& target_key) {
  PT_RETURN_IF_ERROR(options.Validate());
  PT_RETURN_IF_ERROR(CheckLayout(feature_count));
  std::unique_ptr<CostModel> out;
  PT_RETURN_IF_ERROR(Guard("create", [&]() -> Status {
    out = NewModel(options, feature_count, target_key);
    return OkStatus();
  }));
  return out;
}

StatusOr<std::unique_ptr<CostModel>> TrainNeuralModel(const Dataset& data, const NeuralOptions& options,
                                                      const NeuralTrainOptions& train, const std::string& target_key,
                                                      const std::string& training_set) {
  PT_RETURN_IF_ERROR(options.Validate());
  PT_RETURN_IF_ERROR(train.Validate());
  PT_RETURN_IF_ERROR(CheckLayout(data.cols));
  std::vector<std::vector<int64_t>> tasks = TaskRows(data);
  if (tasks.size() < 2)
    return InvalidArgument("neural model training needs at least two tasks of two records, got " +
                           std::to_string(tasks.size()));
  std::unique_ptr<NeuralModel> m;
  PT_RETURN_IF_ERROR(Guard("train", [&]() -> Status {
    m = NewModel(options, data.cols, target_key);
    m->Threads();
    m->LearnScale(data);
    Batch b = m->ToBatch(data);
    std::mt19937_64 rng(options.seed);
    if (train.steps > 0) PT_RETURN_IF_ERROR(TrainJoint(*m, b, tasks, train, rng));
    if (train.method == "meta") PT_RETURN_IF_ERROR(TrainReptile(*m, b, tasks, train, rng));
    m->init_ = Snapshot(m->net_);
    m->has_prior_ = true;
    m->method_ = train.method;
    m->meta_.training_set = training_set;
    m->meta_.samples = static_cast<int64_t>(data.rows());
    return OkStatus();
  }));
  return std::unique_ptr<CostModel>(std::move(m));
}

StatusOr<double> NeuralRankingLoss(const CostModel& model, const Dataset& data) {
  auto* m = dynamic_cast<const NeuralModel*>(&model);
  if (!m)
    return InvalidArgument(std::string("not a neural model (kind '") + CostModelName(model.metadata().kind) + "')");
  if (data.cols != static_cast<size_t>(m->features_))
    return InvalidArgument("rows of " + std::to_string(data.cols) + " features, the model takes " +
                           std::to_string(m->features_));
  double loss = 0;
  auto* mm = const_cast<NeuralModel*>(m);  // Loss only reads the weights
  PT_RETURN_IF_ERROR(Guard("loss", [&]() -> Status {
    mm->Threads();
    loss = mm->Loss(mm->ToBatch(data));
    return OkStatus();
  }));
  return loss;
}

StatusOr<std::unique_ptr<CostModel>> LoadNeuralModel(const std::string& blob, const std::string& expected_target,
                                                     const NeuralOptions& defaults) {
  PT_ASSIGN_OR_RETURN(internal::BlobHeader header, internal::ReadBlobHeader(blob));
  const nlohmann::json& h = header.json;
  try {
    ModelMetadata meta = internal::ReadMetadata(h);
    PT_RETURN_IF_ERROR(internal::CheckMetadata(meta, CostModelKind::kNeural, expected_target));
    const size_t features = meta.feature_count;
    if (h.at("slots").get<int>() != kStoreSlots || h.at("slot_size").get<int>() != SlotFeatureCount())
      return internal::ModelMismatch(
          "feature layout",
          std::to_string(h.at("slots").get<int>()) + " slots of " + std::to_string(h.at("slot_size").get<int>()),
          std::to_string(kStoreSlots) + " slots of " + std::to_string(SlotFeatureCount()));
    PT_RETURN_IF_ERROR(CheckLayout(features));
    NeuralOptions options = defaults;
    options.hidden = h.at("hidden").get<int>();
    options.loss = meta.objective;
    options.adapt_steps = h.at("adapt_steps").get<int>();
    options.adapt_lr = h.at("adapt_lr").get<double>();
    options.adapt_batch = h.at("adapt_batch").get<int>();
    options.adapt_scope = h.value("adapt_scope", std::string("all"));
    options.weight_decay = h.at("weight_decay").get<double>();
    options.grad_clip = h.at("grad_clip").get<double>();
    if (Status s = options.Validate(); !s.ok())
      return Status(StatusCode::kDataLoss, "cost model blob: bad settings: " + s.message());
    std::vector<float> scale = h.at("scale").get<std::vector<float>>();
    if (scale.size() != features)
      return Status(StatusCode::kDataLoss, "cost model blob: " + std::to_string(scale.size()) + " feature scales for " +
                                               std::to_string(features) + " features");
    PT_ASSIGN_OR_RETURN(std::string weights,
                        internal::CheckedBytes(blob, header.payload, h.at("model_bytes").get<size_t>(),
                                               h.at("model_hash").get<std::string>()));
    std::unique_ptr<NeuralModel> m;
    Status s = Guard("load", [&]() -> Status {
      m = NewModel(options, features, meta.target_key);
      std::vector<std::vector<int64_t>> shapes;
      for (const auto& p : m->net_->parameters()) shapes.push_back(p.sizes().vec());
      std::istringstream is(weights);
      torch::load(m->net_, is);
      // torch::load takes the stored tensors as they are: check they fit the network.
      auto params = m->net_->parameters();
      if (params.size() != shapes.size()) return Internal("another number of weight tensors");
      for (size_t i = 0; i < params.size(); ++i)
        if (params[i].sizes().vec() != shapes[i]) return Internal("weights of another shape than the header says");
      m->init_ = Snapshot(m->net_);
      m->scale_ = torch::tensor(scale);
      return OkStatus();
    });
    if (!s.ok()) return Status(StatusCode::kDataLoss, "cost model blob: weights do not load: " + s.message());
    m->has_prior_ = h.at("trained").get<bool>();
    m->method_ = h.at("method").get<std::string>();
    m->meta_ = meta;
    return std::unique_ptr<CostModel>(std::move(m));
  } catch (const nlohmann::json::exception& e) {
    return Status(StatusCode::kDataLoss, std::string("cost model blob: bad header field: ") + e.what());
  }
}

std::unique_ptr<CostModel> FrozenModel(std::shared_ptr<const CostModel> model) {
  return std::make_unique<Frozen>(std::move(model));
}

}  // namespace priortune::costmodel
