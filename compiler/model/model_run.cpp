// CompiledModel: a plan's functions JIT-compiled, its buffers allocated once (64-byte
// aligned), the weights copied in and packed once (Kernel::Prepare), so that an inference
// is the steps' kernels run in order on fixed buffers.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "compiler/codegen/jit.h"
#include "compiler/codegen/runtime.h"
#include "compiler/model/model.h"
#include "compiler/support/median.h"

namespace priortune::compiler {

struct CompiledModel::Impl {
  std::vector<float*> memory;  // per buffer (a view: its base buffer's)
  std::vector<float*> owned;
  std::vector<Kernel> kernels;
  std::vector<PreparedArgs> prepared;
  std::vector<float*> inputs, outputs;  // the plan's inputs' and outputs' buffers
  ~Impl() {
    for (float* p : owned) pt_free(p);
  }
};

CompiledModel::CompiledModel(ModelPlan plan, std::unique_ptr<Impl> impl)
    : plan_(std::move(plan)), impl_(std::move(impl)) {}
CompiledModel::~CompiledModel() = default;

StatusOr<std::unique_ptr<CompiledModel>> CompiledModel::Create(ModelPlan plan, const CompileOptions& options) {
  auto start = std::chrono::steady_clock::now();
  PT_ASSIGN_OR_RETURN(Jit * jit, Jit::ForTarget(plan.target));
  auto impl = std::make_unique<Impl>();
  impl->memory.assign(plan.buffers.size(), nullptr);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer& b = plan.buffers[i];
    if (b.view_of >= 0) continue;
    float* p = static_cast<float*>(pt_alloc(std::max<int64_t>(b.elements, 1) * 4));
    if (!p)
      return Status(StatusCode::kResourceExhausted,
                    "cannot allocate buffer '" + b.name + "' (" + std::to_string(b.elements * 4) + " bytes)");
    impl->owned.push_back(p);
    if (b.constant) {
      std::memcpy(p, b.data.data(), b.data.size() * 4);
    } else {
      std::memset(p, 0, static_cast<size_t>(b.elements) * 4);
    }
    impl->memory[i] = p;
  }
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (plan.buffers[i].view_of >= 0) impl->memory[i] = impl->memory[plan.buffers[i].view_of];
  for (const PlanStep& s : plan.steps) {
    auto k = jit->Compile(s.func, options);
    if (!k.ok()) return Status(k.status().code(), "step '" + s.name + "': " + k.status().message());
    std::vector<void*> args;
    for (int b : s.args) args.push_back(impl->memory[b]);
    auto prepared = k->Prepare(args);
    if (!prepared.ok())
      return Status(prepared.status().code(), "step '" + s.name + "': " + prepared.status().message());
    impl->prepared.push_back(std::move(*prepared));
    impl->kernels.push_back(std::move(*k));
  }
  // The packed copies are made; the plan's own copy of the weights is no longer needed.
  for (PlanBuffer& b : plan.buffers) std::vector<float>().swap(b.data);
  for (int b : plan.input_buffers) impl->inputs.push_back(impl->memory[b]);
  for (int b : plan.output_buffers) impl->outputs.push_back(impl->memory[b]);
  std::unique_ptr<CompiledModel> m(new CompiledModel(std::move(plan), std::move(impl)));
  m->compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

int64_t CompiledModel::input_elements() const { return plan_.inputs[0].elements(); }
int64_t CompiledModel::output_elements() const { return plan_.outputs[0].elements(); }

Status CompiledModel::Run(const std::vector<TypedIn>& inputs, const std::vector<TypedOut>& outputs) {
  std::string error = ConvertInputs(plan_.inputs, inputs, impl_->inputs.data());
  if (!error.empty()) return InvalidArgument(error);
  for (size_t i = 0; i < impl_->kernels.size(); ++i) PT_RETURN_IF_ERROR(RunStep(i));
  error = ConvertOutputs(plan_.outputs, outputs, impl_->outputs.data());
  if (!error.empty()) return InvalidArgument(error);
  return OkStatus();
}

Status CompiledModel::Run(const float* input, int64_t input_size, float* output, int64_t output_size) {
  if (plan_.inputs.size() != 1 || plan_.inputs[0].dtype != ElemType::kFloat32)
    return InvalidArgument("the model has " + std::to_string(plan_.inputs.size()) +
                           " inputs, or one that is not float32: give them by name");
  TypedIn in{plan_.inputs[0].name, ElemType::kFloat32, input, input_size};
  TypedOut out{plan_.outputs[0].name, ElemType::kFloat32, output, output_size};
  return Run(std::vector<TypedIn>{in}, std::vector<TypedOut>{out});
}

Status CompiledModel::RunStep(size_t i) {
  Status s = impl_->kernels[i].Run(impl_->prepared[i]);
  if (s.ok()) return s;
  return Status(s.code(), "step '" + plan_.steps[i].name + "': " + s.message());
}

Status CompiledModel::RunTimed(std::vector<double>& step_seconds) {
  step_seconds.assign(impl_->kernels.size(), 0);
  for (size_t i = 0; i < impl_->kernels.size(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    PT_RETURN_IF_ERROR(RunStep(i));
    step_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return OkStatus();
}

StatusOr<double> CompiledModel::TimeStepWarm(size_t i, int runs) {
  if (i >= impl_->kernels.size()) return InvalidArgument("no step " + std::to_string(i));
  std::vector<double> t;
  PT_RETURN_IF_ERROR(RunStep(i));  // warms it
  for (int r = 0; r < std::max(1, runs); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    PT_RETURN_IF_ERROR(RunStep(i));
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Median(t);
}

}  // namespace priortune::compiler
