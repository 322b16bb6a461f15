#include "peers.h"

#include <cblas.h>
#include <omp.h>

#include <dnnl.hpp>
#include <vector>

#include "compiler/ops/im2col.h"

extern "C" void openblas_set_num_threads(int);

namespace bench {

void SetPeerThreads(int n) {
  openblas_set_num_threads(n);
  omp_set_num_threads(n);
}

Run OpenBlasGemm(GemmShape s, const float* a, const float* b, float* c) {
  return [=] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.m, s.n, s.k, 1.0f, a, s.k, b, s.n, 0.0f, c, s.n);
  };
}

Run OpenBlasConv(ConvShape s, const float* in, const float* w, float* out) {
  priortune::compiler::ConvGeometry g{s.c, s.h, s.h, s.k, s.k, s.s, s.s, s.p, s.p};
  int64_t rows = g.rows(), cols = g.cols();
  auto col = std::make_shared<std::vector<float>>(rows * cols);
  return [=] {
    float* cp = col->data();
#pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) priortune::compiler::Im2colRows(g, in, cp, r, r + 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.o, cols, rows, 1.0f, w, rows, cp, cols, 0.0f, out, cols);
  };
}

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct DnnlState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
};

// Memory for `want`, holding the data of `user` (reordered once when layouts differ).
dnnl::memory Prepare(DnnlState& st, const dnnl::memory::desc& user_md, const float* data,
                     const dnnl::memory::desc& want) {
  dnnl::memory user(user_md, st.eng, const_cast<float*>(data));
  if (want == user_md) return user;
  dnnl::memory m(want, st.eng);
  dnnl::reorder(user, m).execute(st.strm, user, m);
  st.strm.wait();
  return m;
}
}  // namespace

Run DnnlGemm(GemmShape s, const float* a, const float* b, float* c, bool blocked) {
  auto st = std::make_shared<DnnlState>();
  dnnl::memory::desc a_md({s.m, s.k}, dt::f32, tag::ab), b_md({s.k, s.n}, dt::f32, tag::ab),
      c_md({s.m, s.n}, dt::f32, tag::ab);
  dnnl::memory::desc b_any({s.k, s.n}, dt::f32, blocked ? tag::any : tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), st->eng);
  st->prim = dnnl::matmul(pd);
  st->args[DNNL_ARG_SRC] = dnnl::memory(a_md, st->eng, const_cast<float*>(a));
  st->args[DNNL_ARG_WEIGHTS] = Prepare(*st, b_md, b, pd.weights_desc());
  st->args[DNNL_ARG_DST] = dnnl::memory(c_md, st->eng, c);
  return [st] {
    st->prim.execute(st->strm, st->args);
    st->strm.wait();
  };
}

Run DnnlConv(ConvShape s, const float* in, const float* w, float* out, bool blocked) {
  auto st = std::make_shared<DnnlState>();
  int64_t oh = s.oh();
  // Grouped weights are goihw: groups x (o/g) x (c/g) x k x k, which for depthwise is
  // the same memory as our C x 1 x k x k.
  dnnl::memory::dims w_dims = s.groups > 1 ? dnnl::memory::dims{s.groups, s.o / s.groups, s.c / s.groups, s.k, s.k}
                                           : dnnl::memory::dims{s.o, s.c, s.k, s.k};
  dnnl::memory::desc src_md({1, s.c, s.h, s.h}, dt::f32, tag::nchw),
      w_md(w_dims, dt::f32, s.groups > 1 ? tag::goihw : tag::oihw), dst_md({1, s.o, oh, oh}, dt::f32, tag::nchw);
  auto any = [&](const dnnl::memory::desc& md, dnnl::memory::dims d) {
    return blocked ? dnnl::memory::desc(d, dt::f32, tag::any) : md;
  };
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                    any(src_md, {1, s.c, s.h, s.h}), any(w_md, w_dims), any(dst_md, {1, s.o, oh, oh}),
                                    {s.s, s.s}, {s.p, s.p}, {s.p, s.p});
  dnnl::convolution_forward::primitive_desc pd(d, st->eng);
  st->prim = dnnl::convolution_forward(pd);
  st->args[DNNL_ARG_SRC] = Prepare(*st, src_md, in, pd.src_desc());
  st->args[DNNL_ARG_WEIGHTS] = Prepare(*st, w_md, w, pd.weights_desc());
  st->args[DNNL_ARG_DST] =
      pd.dst_desc() == dst_md ? dnnl::memory(dst_md, st->eng, out) : dnnl::memory(pd.dst_desc(), st->eng);
  return [st] {
    st->prim.execute(st->strm, st->args);
    st->strm.wait();
  };
}

}  // namespace bench
