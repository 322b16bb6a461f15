// Every operator, under its default, hand-picked and randomly drawn configs, on regular
// and odd shapes, for each ISA level (SSE4.2, AVX2, AVX-512): the kernel matches the
// reference implementation where this machine can run the ISA's code; where it cannot,
// the kernel is compiled and its assembly checked for the ISA's vector registers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "compiler/codegen/jit.h"
#include "compiler/ops/build.h"
#include "tests/common/isa_targets.h"

namespace priortune::compiler {
namespace {

using priortune::testing::HostRuns;
using priortune::testing::IsaTarget;

// `n` configs drawn uniformly from the knobs' candidates with a fixed seed (constraints
// ignored on purpose: a spilling tile must still compute the right answer).
std::vector<Config> RandomConfigs(const OpTemplate& tmpl, const Workload& w, const Target& t, int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<Config> out;
  auto knobs = tmpl.Knobs(w, t);
  for (int i = 0; i < n; ++i) {
    Config c;
    for (const auto& k : knobs) k.Assign(g() % k.size(), c);
    out.push_back(c);
  }
  return out;
}

class Ops : public ::testing::TestWithParam<std::string> {
 protected:
  Target target() const { return IsaTarget(GetParam()); }

  void ExpectCorrect(const Workload& w, const Config& c) {
    Target t = target();
    SCOPED_TRACE(w.ShortName() + " " + ConfigToJson(c) + " on " + t.cpu);
    if (!HostRuns(t)) {
      // This machine cannot run the ISA: compile it to machine code for the target, whose
      // vector width the functions carry. (Narrow tiles use narrower registers, so the
      // register names are checked in codegen_test, on full-width vectors.)
      auto f = LowerWorkload(w, t, c);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, t);
      ASSERT_TRUE(ir.ok()) << ir.status().ToString();
      EXPECT_NE(ir->find("\"prefer-vector-width\"=\"" + std::to_string(t.vector_bits) + "\""), std::string::npos);
      auto text = EmitCodeText(*f, CodeFileType::kAssembly, t);
      ASSERT_TRUE(text.ok()) << text.status().ToString();
      // The entry point is there (a group_conv2d's is conv2d's kernel, named so).
      EXPECT_FALSE(f->name.empty());
      EXPECT_NE(text->find(f->name + ":"), std::string::npos) << f->name;
      return;
    }
    auto tmpl = FindTemplate(w.op);
    ASSERT_TRUE(tmpl.ok());
    auto k = BuildKernel(w, t, c);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    KernelArgs args(**tmpl, w, 7);
    CheckResult r = CheckAgainstReference(*k, w, args);
    EXPECT_TRUE(r.ok()) << "first bad output " << r.first_bad << ", max abs error " << r.max_abs_error;
  }

  void ExpectAllConfigsCorrect(const Workload& w, int random_configs) {
    auto tmpl = FindTemplate(w.op);
    ASSERT_TRUE(tmpl.ok());
    ASSERT_TRUE((*tmpl)->Validate(w).ok()) << (*tmpl)->Validate(w).ToString();
    Target t = target();
    ExpectCorrect(w, (*tmpl)->DefaultConfig(w, t));
    ExpectCorrect(w, (*tmpl)->HandPickedConfig(w, t));
    for (const auto& c : RandomConfigs(**tmpl, w, t, random_configs, 1234)) ExpectCorrect(w, c);
  }
};

TEST_P(Ops, MatmulSquareShapesMatchReference) { ExpectAllConfigsCorrect(MatmulWorkload(64, 64, 64), 4); }
TEST_P(Ops, MatmulPrimeSizesMatchReference) { ExpectAllConfigsCorrect(MatmulWorkload(97, 89, 61), 5); }
TEST_P(Ops, MatmulSingleRowMatchesReference) { ExpectAllConfigsCorrect(MatmulWorkload(1, 1000, 512), 3); }
TEST_P(Ops, MatmulBiasAndReluEpilogueMatchesReference) {
  ExpectAllConfigsCorrect(MatmulWorkload(33, 70, 45, /*bias=*/true, /*relu=*/true), 3);
}
TEST_P(Ops, MatmulNarrowOutputBelowVectorWidthMatchesReference) {
  ExpectAllConfigsCorrect(MatmulWorkload(9, 5, 13), 3);
}
TEST_P(Ops, BatchMatmulOddShapesMatchReference) { ExpectAllConfigsCorrect(BatchMatmulWorkload(3, 17, 33, 19), 4); }
TEST_P(Ops, Conv2dResNetStageShapeMatchesReference) {
  ExpectAllConfigsCorrect(Conv2dWorkload(1, 32, 14, 14, 32, 3, 3, 1, 1), 3);
}
TEST_P(Ops, Conv2dSevenBySevenFeatureMapMatchesReference) {
  ExpectAllConfigsCorrect(Conv2dWorkload(1, 64, 7, 7, 32, 3, 3, 1, 1), 3);
}
TEST_P(Ops, Conv2dStridedStemWithThreeChannelsMatchesReference) {
  ExpectAllConfigsCorrect(Conv2dWorkload(1, 3, 29, 29, 16, 7, 7, 2, 3), 2);
}
TEST_P(Ops, Conv2dPointwiseStrideTwoMatchesReference) {
  ExpectAllConfigsCorrect(Conv2dWorkload(1, 16, 15, 15, 32, 1, 1, 2, 0), 3);
}
TEST_P(Ops, Conv2dBatchOfTwoNonSquareWithEpilogueMatchesReference) {
  ExpectAllConfigsCorrect(Conv2dWorkload(2, 8, 11, 13, 24, 3, 3, 1, 1, true, true), 3);
}
// The epilogues a model's graph fuses: + bias + residual then relu (ResNet's blocks),
// + bias then relu6 (MobileNetV2), in each layout the configs reach.
Workload WithEpilogue(Workload w, bool bias, bool residual, bool relu, bool relu6) {
  w.bias = bias;
  w.residual = residual;
  w.relu = relu;
  w.relu6 = relu6;
  return w;
}
TEST_P(Ops, Conv2dResidualAndReluSixEpiloguesMatchReference) {
  ExpectAllConfigsCorrect(WithEpilogue(Conv2dWorkload(1, 16, 10, 10, 24, 3, 3, 1, 1), true, true, true, false), 4);
  ExpectAllConfigsCorrect(WithEpilogue(Conv2dWorkload(1, 24, 9, 9, 16, 1, 1, 1, 0), true, false, false, true), 4);
}
TEST_P(Ops, DepthwiseConv2dBiasReluSixAndResidualEpiloguesMatchReference) {
  ExpectAllConfigsCorrect(WithEpilogue(DepthwiseConv2dWorkload(1, 16, 12, 12, 3, 3, 1, 1), true, false, false, true),
                          4);
  ExpectAllConfigsCorrect(WithEpilogue(DepthwiseConv2dWorkload(1, 8, 11, 11, 5, 5, 2, 2), true, true, true, false), 4);
}
// SiLU (EfficientNet) and HardSwish (MobileNetV3) fused into the epilogue.
Workload WithActivation(Workload w, bool silu) {
  w.bias = true;
  (silu ? w.silu : w.hardswish) = true;
  return w;
}
TEST_P(Ops, SiluAndHardSwishEpiloguesMatchReference) {
  ExpectAllConfigsCorrect(WithActivation(Conv2dWorkload(1, 16, 10, 10, 24, 3, 3, 1, 1), true), 3);
  ExpectAllConfigsCorrect(WithActivation(Conv2dWorkload(1, 24, 9, 9, 16, 1, 1, 1, 0), false), 3);
  ExpectAllConfigsCorrect(WithActivation(DepthwiseConv2dWorkload(1, 16, 12, 12, 3, 3, 1, 1), true), 3);
  ExpectAllConfigsCorrect(WithActivation(DepthwiseConv2dWorkload(1, 16, 11, 11, 5, 5, 2, 2), false), 3);
  ExpectAllConfigsCorrect(WithActivation(GroupConv2dWorkload(1, 16, 7, 7, 16, 3, 3, 1, 1, 4), true), 2);
  ExpectAllConfigsCorrect(WithActivation(MatmulWorkload(7, 40, 30), false), 2);
}
// GELU (BERT's and ViT's FFN) and its tanh form (GPT-2's) fused after a dense layer's
// bias, with and without a residual, and after a convolution.
Workload WithGelu(Workload w, bool tanh_form, bool residual) {
  w.bias = true;
  w.residual = residual;
  (tanh_form ? w.gelu_tanh : w.gelu) = true;
  return w;
}
TEST_P(Ops, GeluAndGeluTanhEpiloguesMatchReference) {
  ExpectAllConfigsCorrect(WithGelu(MatmulWorkload(33, 70, 45), false, false), 3);
  ExpectAllConfigsCorrect(WithGelu(MatmulWorkload(16, 96, 64), true, false), 3);
  ExpectAllConfigsCorrect(WithGelu(MatmulWorkload(7, 40, 300), false, true), 2);
  ExpectAllConfigsCorrect(WithGelu(Conv2dWorkload(1, 16, 9, 9, 24, 3, 3, 1, 1), true, true), 2);
}
TEST_P(Ops, MatmulResidualAndReluSixEpilogueMatchesReference) {
  ExpectAllConfigsCorrect(WithEpilogue(MatmulWorkload(7, 40, 300), true, true, false, true), 3);
}
TEST(Epilogue, ReluWithReluSixAndEpiloguesOnBatchMatmulAreRefused) {
  auto conv = FindTemplate("conv2d");
  ASSERT_TRUE(conv.ok());
  Status both = (*conv)->Validate(WithEpilogue(Conv2dWorkload(1, 8, 8, 8, 8, 3, 3, 1, 1), true, false, true, true));
  EXPECT_EQ(both.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(both.message().find("more than one of relu, relu6, silu, hardswish, gelu and gelu_tanh"), std::string::npos)
      << both.ToString();
  Workload two = WithActivation(Conv2dWorkload(1, 8, 8, 8, 8, 3, 3, 1, 1), true);
  two.hardswish = true;
  EXPECT_EQ((*conv)->Validate(two).code(), StatusCode::kInvalidArgument);
  auto matmul = FindTemplate("matmul");
  ASSERT_TRUE(matmul.ok());
  Workload gelus = WithGelu(MatmulWorkload(8, 8, 8), false, false);
  EXPECT_TRUE((*matmul)->Validate(gelus).ok());
  gelus.gelu_tanh = true;
  EXPECT_EQ((*matmul)->Validate(gelus).code(), StatusCode::kInvalidArgument);
  gelus.gelu = false;
  gelus.relu = true;
  EXPECT_EQ((*matmul)->Validate(gelus).code(), StatusCode::kInvalidArgument);
  auto bmm = FindTemplate("batch_matmul");
  ASSERT_TRUE(bmm.ok());
  Workload b = BatchMatmulWorkload(2, 8, 8, 8);
  b.residual = true;
  EXPECT_EQ((*bmm)->Validate(b).code(), StatusCode::kInvalidArgument);
}
TEST(Epilogue, WorkloadKeysWithoutTheNewFieldsAreUnchangedAndTheFieldsRoundTrip) {
  // Keys of workloads stored before residual and relu6 existed must not move.
  Workload plain = Conv2dWorkload(1, 8, 8, 8, 8, 3, 3, 1, 1, true, true);
  EXPECT_EQ(plain.ToJson().find("relu6"), std::string::npos);
  EXPECT_EQ(plain.ToJson().find("residual"), std::string::npos);
  EXPECT_EQ(plain.ToJson().find("silu"), std::string::npos);
  EXPECT_EQ(plain.ToJson().find("hardswish"), std::string::npos);
  EXPECT_EQ(plain.ToJson().find("gelu"), std::string::npos);
  for (bool silu : {true, false}) {
    Workload act = WithActivation(plain, silu);
    act.relu = false;
    auto parsed = Workload::FromJson(act.ToJson());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->Key(), act.Key());
    EXPECT_NE(act.Key(), plain.Key());
    EXPECT_TRUE(parsed->SameEpilogue(act));
    EXPECT_FALSE(parsed->SameEpilogue(plain));
  }
  for (bool tanh_form : {false, true}) {
    Workload act = WithGelu(plain, tanh_form, true);
    act.relu = false;
    auto parsed = Workload::FromJson(act.ToJson());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->gelu, !tanh_form);
    EXPECT_EQ(parsed->gelu_tanh, tanh_form);
    EXPECT_EQ(parsed->Key(), act.Key());
    EXPECT_NE(act.Key(), WithGelu(plain, !tanh_form, true).Key());
    EXPECT_TRUE(parsed->SameEpilogue(act));
    EXPECT_FALSE(parsed->SameEpilogue(WithGelu(plain, !tanh_form, true)));
  }
  Workload fused = WithEpilogue(plain, true, true, false, true);
  EXPECT_NE(fused.Key(), plain.Key());
  auto back = Workload::FromJson(fused.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->residual);
  EXPECT_TRUE(back->relu6);
  EXPECT_FALSE(back->relu);
  EXPECT_EQ(back->Key(), fused.Key());
  EXPECT_EQ(Workload::FromJson(R"({"op":"conv2d","dims":{},"epilogue":{"relu6":1}})").status().code(),
            StatusCode::kInvalidArgument);
}

// Grouped convolutions: ResNeXt's (32 groups of 4: here 8 of 4), RegNet's wider groups
// with stride 2, a grouped 1x1 with the residual epilogue, groups with fewer outputs than
// inputs.
TEST_P(Ops, GroupConv2dResNeXtRegNetAndPointwiseShapesMatchReference) {
  ExpectAllConfigsCorrect(GroupConv2dWorkload(1, 32, 9, 9, 32, 3, 3, 1, 1, 8), 3);
  ExpectAllConfigsCorrect(WithEpilogue(GroupConv2dWorkload(1, 48, 11, 11, 48, 3, 3, 2, 1, 3), true, false, true, false),
                          3);
  ExpectAllConfigsCorrect(WithEpilogue(GroupConv2dWorkload(1, 24, 7, 7, 36, 1, 1, 1, 0, 3), true, true, true, false),
                          3);
  ExpectAllConfigsCorrect(GroupConv2dWorkload(2, 40, 6, 10, 20, 3, 3, 1, 1, 4), 3);
}

TEST(GroupConv2d, ShapesFlopsAndKnobsComeFromTheGroupsAndBadGroupsAreRefused) {
  auto tmpl = FindTemplate("group_conv2d");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
  const Workload w = GroupConv2dWorkload(1, 64, 14, 14, 128, 3, 3, 1, 1, 32);
  ASSERT_TRUE((*tmpl)->Validate(w).ok()) << (*tmpl)->Validate(w).ToString();
  EXPECT_EQ((*tmpl)->ArgShapes(w)[1], (std::vector<int64_t>{128, 2, 3, 3}));
  EXPECT_DOUBLE_EQ((*tmpl)->Flops(w), 2.0 * 128 * 14 * 14 * 2 * 9);
  for (const KnobDef& k : (*tmpl)->Knobs(w, IsaTarget("avx512"))) {
    if (k.name == "ic_bn") EXPECT_EQ(k.values, (std::vector<int64_t>{1, 2}));
    if (k.name == "oc_bn") EXPECT_EQ(k.values, (std::vector<int64_t>{1, 2, 4}));
  }
  Workload bad = GroupConv2dWorkload(1, 64, 14, 14, 100, 3, 3, 1, 1, 8);
  Status s = (*tmpl)->Validate(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("8 groups"), std::string::npos) << s.ToString();
  Workload no_g = GroupConv2dWorkload(1, 64, 14, 14, 64, 3, 3, 1, 1, 8);
  no_g.dims.erase("G");
  EXPECT_EQ((*tmpl)->Validate(no_g).code(), StatusCode::kInvalidArgument);
  auto parsed = ParseWorkload("group_conv2d", "64x128x14x3x1x1x32");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->Key(), w.Key());
}

TEST_P(Ops, DepthwiseConv2dStrideOneAndTwoMatchReference) {
  ExpectAllConfigsCorrect(DepthwiseConv2dWorkload(1, 8, 19, 19, 3, 3, 1, 1), 3);
  ExpectAllConfigsCorrect(DepthwiseConv2dWorkload(1, 5, 7, 7, 3, 3, 2, 1), 3);
}

std::vector<float> ToBlocked(const float* x, const std::vector<int64_t>& s, int64_t b) {
  return ToChannelBlocks(x, s, b);
}
std::vector<float> FromBlocked(const float* x, const std::vector<int64_t>& s, int64_t b) {
  return FromChannelBlocks(x, s, b);
}

// A blocked kernel of a compiled model (TensorLayouts): data and residual in any block,
// the output in NCHW or in the config's own block. Configs drawn at random in the blocked
// layout; each layout combination's output, unblocked, equals the reference's.
void ExpectLayoutsCorrect(const Workload& w, const Target& t, int configs) {
  auto tmpl = FindTemplate(w.op);
  ASSERT_TRUE(tmpl.ok());
  const bool depthwise = w.op == "depthwise_conv2d";
  const auto shapes = (*tmpl)->ArgShapes(w);
  const auto& in_shape = shapes[0];
  const auto& out_shape = shapes.back();
  KernelArgs args(**tmpl, w, 11);
  const std::vector<float> want = ReferenceOutput(w, args);
  auto jit = HostRuns(t) ? Jit::ForTarget(t) : StatusOr<Jit*>(FailedPrecondition("not this host"));
  int run = 0;
  for (Config c : RandomConfigs(**tmpl, w, t, configs, 99)) {
    c["layout"] = depthwise ? 1 : 0;
    const int64_t native = (*tmpl)->NativeBlock(w, t, c);
    ASSERT_GT(native, 0) << ConfigToJson(c);
    // Input blocks: the output's own block where the channels allow (what a model's
    // producer of the same block gives), then nested, holding or unrelated ones, each
    // once with an NCHW and once with a blocked output.
    auto blocks_of = [&](int64_t channels) {
      std::vector<int64_t> b;
      const int64_t inner = depthwise ? native : c.at("ic_bn");  // the block the kernel packs into
      for (int64_t x : {native, inner, int64_t{8}, int64_t{3}, int64_t{16}, int64_t{2}})
        if (channels % x == 0 && std::find(b.begin(), b.end(), x) == b.end()) b.push_back(x);
      return b;
    };
    const std::vector<int64_t> data_blocks = blocks_of(in_shape[1]);
    std::vector<int64_t> residual_blocks = blocks_of(out_shape[1]);
    residual_blocks.insert(residual_blocks.begin(), 0);
    std::vector<std::pair<int64_t, int64_t>> combos = {{0, native}, {data_blocks[0], 0}};
    for (size_t i = 1; i < data_blocks.size() && i < 4; ++i) combos.push_back({data_blocks[i], i % 2 ? native : 0});
    for (auto [db, ob] : combos) {
      TensorLayouts lay;
      lay.data = db;
      lay.out = ob;
      lay.residual = w.residual ? residual_blocks[(run++) % residual_blocks.size()] : 0;
      SCOPED_TRACE(w.ShortName() + " " + ConfigToJson(c) + " data " + std::to_string(db) + " residual " +
                   std::to_string(lay.residual) + " out " + std::to_string(ob) + " on " + t.cpu);
      auto f = LowerWorkload(w, t, c, lay);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (!jit.ok()) {
        auto text = EmitCodeText(*f, CodeFileType::kAssembly, t);
        ASSERT_TRUE(text.ok()) << text.status().ToString();
        continue;
      }
      auto k = (*jit)->Compile(*f);
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      std::vector<float> data = ToBlocked(args.inputs()[0], in_shape, db), residual;
      std::vector<void*> ptrs = args.pointers();
      ptrs[0] = data.data();
      if (w.residual) {
        const size_t r = ptrs.size() - 2;
        residual = ToBlocked(args.inputs()[r], out_shape, lay.residual);
        ptrs[r] = residual.data();
      }
      args.ResetOutput();
      ASSERT_TRUE(k->Run(ptrs).ok());
      std::vector<float> got = FromBlocked(args.output(), out_shape, ob);
      int64_t bad = -1;
      for (size_t i = 0; i < want.size() && bad < 0; ++i)
        if (!(std::fabs(got[i] - want[i]) <= 1e-3 * std::max(1.0f, std::fabs(want[i])))) bad = static_cast<int64_t>(i);
      EXPECT_EQ(bad, -1) << "got " << (bad >= 0 ? got[bad] : 0) << " want " << (bad >= 0 ? want[bad] : 0);
    }
  }
}

TEST_P(Ops, BlockedLayoutsBetweenKernelsMatchReference) {
  const Target t = target();
  ExpectLayoutsCorrect(WithEpilogue(Conv2dWorkload(1, 16, 10, 10, 24, 3, 3, 1, 1), true, true, true, false), t, 2);
  ExpectLayoutsCorrect(WithEpilogue(Conv2dWorkload(1, 24, 9, 9, 32, 1, 1, 2, 0), true, false, false, true), t, 2);
  ExpectLayoutsCorrect(WithEpilogue(DepthwiseConv2dWorkload(1, 32, 12, 12, 3, 3, 1, 1), true, true, false, true), t, 2);
  ExpectLayoutsCorrect(WithEpilogue(DepthwiseConv2dWorkload(1, 48, 11, 11, 3, 3, 2, 1), true, false, true, false), t,
                       2);
  ExpectLayoutsCorrect(WithEpilogue(GroupConv2dWorkload(1, 32, 10, 10, 32, 3, 3, 1, 1, 4), true, true, true, false), t,
                       2);
  ExpectLayoutsCorrect(WithEpilogue(GroupConv2dWorkload(1, 48, 9, 9, 96, 3, 3, 2, 1, 6), true, false, true, false), t,
                       2);
}

TEST(Layouts, AConfigThatWorksInNchwOrAWrongBlockIsRefused) {
  const Target t = IsaTarget("avx2");
  Workload w = Conv2dWorkload(1, 16, 10, 10, 32, 3, 3, 1, 1);
  auto tmpl = FindTemplate("conv2d");
  ASSERT_TRUE(tmpl.ok());
  Config c = (*tmpl)->DefaultConfig(w, t);
  ASSERT_EQ(c.at("layout"), 0);
  TensorLayouts lay;
  lay.out = c.at("oc_bn") * 2;
  auto f = LowerWorkload(w, t, c, lay);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("output block"), std::string::npos) << f.status().ToString();
  lay.out = 0;
  lay.data = 5;
  f = LowerWorkload(w, t, c, lay);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("does not divide"), std::string::npos) << f.status().ToString();
  c["layout"] = 1;  // nchw-width
  EXPECT_EQ((*tmpl)->NativeBlock(w, t, c), 0);
  lay.data = 8;
  f = LowerWorkload(w, t, c, lay);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("NCHW only"), std::string::npos) << f.status().ToString();
  auto mm = LowerWorkload(MatmulWorkload(8, 8, 8), t,
                          (*FindTemplate("matmul"))->DefaultConfig(MatmulWorkload(8, 8, 8), t), lay);
  EXPECT_FALSE(mm.ok());
}

TEST_P(Ops, TilesOfThreeVectorsMatchReference) {
  // Widths of 3 native vectors are emitted as 3 vectors (VectorizeInNativeChunks).
  Target t = target();
  int64_t three = 3 * t.vector_lanes();
  Workload mm = MatmulWorkload(13, 2 * three + 5, 17);
  Config c = (*FindTemplate("matmul"))->DefaultConfig(mm, t);
  c["nr"] = c["nc"] = three;
  c["mr"] = c["mc"] = 3;
  c["pack_b"] = 1;
  ExpectCorrect(mm, c);
  c["pack_b"] = 0;
  ExpectCorrect(mm, c);
  Workload conv = Conv2dWorkload(1, 8, 9, 9, 2 * three, 3, 3, 1, 1);
  Config cc = (*FindTemplate("conv2d"))->DefaultConfig(conv, t);
  cc["oc_bn"] = three;
  cc["reg_n"] = 3;
  cc["ow_bn"] = 9;  // 3 register tiles per row
  ExpectCorrect(conv, cc);
}

// The first output index where `got` differs from `want` by more than 1e-3 relative, -1 if
// none.
int64_t FirstMismatch(const float* got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-3 * std::max(1.0f, std::fabs(want[i])))) return i;
  return -1;
}

// A weight layout change is a prepack: Prepare packs input `arg` once and the main
// function reads only the packed copy; Run(args) packs in every call.
void ExpectPrepackReadsOnlyItsCopy(const Workload& w, const Target& t, const Config& c, size_t arg,
                                   const std::string& packed_name) {
  SCOPED_TRACE(w.ShortName() + " " + ConfigToJson(c));
  auto f = LowerWorkload(w, t, c);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->prepacks.size(), 1u);
  EXPECT_EQ(f->prepacks[0].arg, arg);
  EXPECT_EQ(f->args[arg].name, packed_name);
  auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, t);  // object files carry the prepack
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();
  EXPECT_NE(ir->find("@" + f->name + "_prepack0_packed("), std::string::npos);
  if (!HostRuns(t)) return;
  const OpTemplate& tmpl = **FindTemplate(w.op);
  auto k = BuildKernel(w, t, c);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->prepack_count(), 1);
  KernelArgs args(tmpl, w, 3);
  std::vector<float> want = ReferenceOutput(w, args);
  auto prepared_or = k->Prepare(args.pointers());
  ASSERT_TRUE(prepared_or.ok()) << prepared_or.status().ToString();
  PreparedArgs prepared = std::move(prepared_or).value();
  ASSERT_EQ(prepared.pointers().size(), args.pointers().size());
  for (size_t i = 0; i < args.pointers().size(); ++i) {
    if (i == arg)
      EXPECT_NE(prepared.pointers()[i], args.pointers()[i]);  // the packed copy
    else
      EXPECT_EQ(prepared.pointers()[i], args.pointers()[i]);  // borrowed
  }
  // Double the caller's input: the prepared kernel still computes with the packed
  // originals, a plain Run packs and uses the new values.
  auto* in = static_cast<float*>(args.pointers()[arg]);
  int64_t elems = 1;
  const std::vector<std::vector<int64_t>> shapes = tmpl.ArgShapes(w);
  for (int64_t d : shapes[arg]) elems *= d;
  for (int64_t i = 0; i < elems; ++i) in[i] *= 2;
  std::vector<float> want_doubled = ReferenceOutput(w, args);
  ASSERT_NE(FirstMismatch(want_doubled.data(), want), -1);  // doubling changes the answer
  args.ResetOutput();
  ASSERT_TRUE(k->Run(prepared).ok());
  EXPECT_EQ(FirstMismatch(args.output(), want), -1) << "a prepared run read the caller's input";
  args.ResetOutput();
  ASSERT_TRUE(k->Run(args.pointers()).ok());
  EXPECT_EQ(FirstMismatch(args.output(), want_doubled), -1) << "a plain run did not pack the input";
}

TEST_P(Ops, Conv2dWeightsArePackedOnceByPrepareAndInEveryPlainRun) {
  Target t = target();
  const OpTemplate& tmpl = **FindTemplate("conv2d");
  Workload w = Conv2dWorkload(1, 16, 9, 9, 2 * t.vector_lanes(), 3, 3, 1, 1, /*bias=*/true, false);
  Config c = tmpl.HandPickedConfig(w, t);
  ASSERT_EQ(c.at("layout"), 0);
  ExpectPrepackReadsOnlyItsCopy(w, t, c, 1, "kernel_vec");
  c = tmpl.DefaultConfig(w, t);
  c["layout"] = 1;
  ExpectPrepackReadsOnlyItsCopy(w, t, c, 1, "kernel_w");
}

TEST_P(Ops, MatmulPackingPerBlockOfAAndBMatchesReference) {
  // A blocked reduction (kc < K) with the kc-slices of A and B packed at the kc loop, with
  // row and column tails and a K that is not a multiple of kc.
  Target t = target();
  Workload w = MatmulWorkload(29, 2 * t.vector_lanes() + 5, 53, /*bias=*/false, /*relu=*/true);
  Config c = (*FindTemplate("matmul"))->DefaultConfig(w, t);
  c["mr"] = 4;
  c["mc"] = 12;
  c["nr"] = c["nc"] = t.vector_lanes();
  c["kc"] = 16;
  c["ku"] = 4;
  for (int64_t pb : {0, 1, 3})
    for (int64_t pa : {0, 1}) {
      c["pack_b"] = pb;
      c["pack_a"] = pa;
      ExpectCorrect(w, c);
    }
  Workload bw = BatchMatmulWorkload(2, 9, t.vector_lanes() + 3, 21);
  Config bc = (*FindTemplate("batch_matmul"))->DefaultConfig(bw, t);
  bc["mr"] = 3;
  bc["mc"] = 6;
  bc["kc"] = 8;
  bc["ku"] = 2;
  bc["pack_b"] = 3;
  bc["pack_a"] = 1;
  ExpectCorrect(bw, bc);
}

TEST_P(Ops, MatmulWeightsArePrepackedOnlyWhenTheConfigSaysSoAndBatchMatmulNever) {
  Target t = target();
  const OpTemplate& tmpl = **FindTemplate("matmul");
  Workload w = MatmulWorkload(33, 2 * t.vector_lanes() + 3, 45, /*bias=*/true, false);
  Config c = tmpl.HandPickedConfig(w, t);
  ASSERT_EQ(c.at("pack_b"), 2);
  ExpectPrepackReadsOnlyItsCopy(w, t, c, 1, "B_packed");
  c["pack_b"] = 1;  // packed in the call: no prepack
  auto f = LowerWorkload(w, t, c);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->prepacks.empty());
  const OpTemplate& bmm = **FindTemplate("batch_matmul");
  Workload bw = BatchMatmulWorkload(2, 33, 40, 45);
  for (const auto& k : bmm.Knobs(bw, t))
    if (k.name == "pack_b") EXPECT_EQ(k.values, (std::vector<int64_t>{0, 1, 3}));  // no prepack (2)
  EXPECT_EQ(bmm.HandPickedConfig(bw, t).at("pack_b"), 1);
}

INSTANTIATE_TEST_SUITE_P(Isa, Ops, ::testing::ValuesIn(priortune::testing::IsaNames()),
                         priortune::testing::IsaParamName);

}  // namespace
}  // namespace priortune::compiler
