/* The C API of a model library written by `priortune build-model`: the model's kernels
 * (each with the best stored config for its target), its graph plan, its weights and a
 * small runtime, in one shared library with no dependency on LLVM, the store or gRPC.
 * build-model copies this header next to the library as priortune_model.h.
 *
 *   pt_model* m = pt_model_create();
 *   pt_model_run(m, input, pt_model_input_size(m), output, pt_model_output_size(m));
 *   pt_model_destroy(m);
 *
 * Inputs and outputs are float32 buffers in the model's layout (NCHW for an image). A
 * model is not thread-safe (its buffers are its own); create one per thread. */
#ifndef PRIORTUNE_MODEL_H_
#define PRIORTUNE_MODEL_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_model pt_model;

/* Allocates the buffers and the kernels' workspace and packs the weights. NULL on failure
 * (out of memory, ...): pt_model_last_error(). Never aborts. */
pt_model* pt_model_create(void);
/* One inference. 0 on success; -1 (see last_error) for a size that is not the model's, a
 * workspace that cannot grow to more threads set since creation (out of memory), or, in
 * a library built with --check-bounds, a kernel's access outside its buffer (the step,
 * buffer, index and loop position; the access was not made). */
int pt_model_run(pt_model* model, const float* input, int64_t input_size, float* output, int64_t output_size);
void pt_model_destroy(pt_model* model);
int64_t pt_model_input_size(const pt_model* model);
int64_t pt_model_output_size(const pt_model* model);
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
