/* The C API of a model library written by `priortune build-model`: the model's kernels
 * (each with the best stored config for its target), its graph plan, its weights and a
 * small runtime, in one shared library with no dependency on LLVM, the store or gRPC.
 * build-model copies this header next to the library as priortune_model.h.
 *
 *   pt_model* m = pt_model_create();
 *   pt_model_run(m, input, pt_model_input_size(m), output, pt_model_output_size(m));
 *   pt_model_destroy(m);
 *
 * A model of several inputs, or of integer ones (a language model's token ids and
 * attention mask), takes them by name and type:
 *
 *   pt_input in[2] = {{"input_ids", PT_INT64, ids, 128}, {"attention_mask", PT_INT64, mask, 128}};
 *   pt_output out[1] = {{"last_hidden_state", PT_FLOAT32, hidden, 128 * 768}};
 *   pt_model_run_named(m, in, 2, out, 1);
 *
 * Buffers are in the model's layout (NCHW for an image), row-major. A model is not
 * thread-safe (its buffers are its own); create one per thread. */
#ifndef PRIORTUNE_MODEL_H_
#define PRIORTUNE_MODEL_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_model pt_model;

/* Element types of inputs and outputs: ONNX's TensorProto codes. */
enum { PT_FLOAT32 = 1, PT_INT32 = 6, PT_INT64 = 7, PT_BOOL = 9 };

/* A named, typed buffer of `elements` values (PT_BOOL: one byte each, nonzero is true). */
typedef struct {
  const char* name;
  int32_t dtype;
  const void* data;
  int64_t elements;
} pt_input;
typedef struct {
  const char* name;
  int32_t dtype;
  void* data;
  int64_t elements;
} pt_output;

/* Allocates the buffers and the kernels' workspace and packs the weights. NULL on failure
 * (out of memory, ...): pt_model_last_error(). Never aborts. */
pt_model* pt_model_create(void);
/* One inference of a model of one float32 input, writing its first output (float32).
 * 0 on success; -1 (see last_error) for a model of other inputs or a first output that is
 * not float32, a size that is not the model's, a
 * workspace that cannot grow to more threads set since creation (out of memory), or, in
 * a library built with --check-bounds, a kernel's access outside its buffer (the step,
 * buffer, index and loop position; the access was not made). */
int pt_model_run(pt_model* model, const float* input, int64_t input_size, float* output, int64_t output_size);
/* One inference of a model of any inputs: every input once, by name, of its type and
 * element count; any of the outputs (n_outputs may be 0). 0 on success; -1 (see
 * last_error, which names the input or output) for an input missing, unknown, given
 * twice, of another type or size, an integer beyond +-2^24 (the model computes in
 * float32), a token id outside the table it indexes (the vocabulary), an output unknown or
 * of another type or size, or what pt_model_run fails for. Nothing runs when the inputs
 * are refused. */
int pt_model_run_named(pt_model* model, const pt_input* inputs, int n_inputs, pt_output* outputs, int n_outputs);
void pt_model_destroy(pt_model* model);
/* The first input's and the first output's element counts (pt_model_run's sizes). */
int64_t pt_model_input_size(const pt_model* model);
int64_t pt_model_output_size(const pt_model* model);
/* The model's inputs and outputs, i from 0: name (NULL when i is out of range), type (a
 * PT_ code; 0), element count (-1), and shape: the rank, with up to max_dims dimensions
 * written to dims (-1). */
int pt_model_input_count(const pt_model* model);
const char* pt_model_input_name(const pt_model* model, int i);
int32_t pt_model_input_dtype(const pt_model* model, int i);
int64_t pt_model_input_elements(const pt_model* model, int i);
int pt_model_input_shape(const pt_model* model, int i, int64_t* dims, int max_dims);
int pt_model_output_count(const pt_model* model);
const char* pt_model_output_name(const pt_model* model, int i);
int32_t pt_model_output_dtype(const pt_model* model, int i);
int64_t pt_model_output_elements(const pt_model* model, int i);
int pt_model_output_shape(const pt_model* model, int i, int64_t* dims, int max_dims);
/* Threads the kernels' parallel loops use, the caller included, in every model of the
 * process (default: the thread count the library was built for, `build-model --threads`). */
void pt_model_set_threads(int threads);
/* The thread count runs use now: pt_model_set_threads's, else (once a model is created)
 * the library's built count. */
int pt_model_threads(void);
/* The target the kernels were built for (its key and CPU), and the build's summary. */
const char* pt_model_info(void);
/* The message of the last failure in this thread, "" if none. */
const char* pt_model_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* PRIORTUNE_MODEL_H_ */
