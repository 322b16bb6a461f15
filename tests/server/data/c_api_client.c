/* A C client of a model library's API (model_deploy.h), built by
 * ModelDeploy.ATokenModelsLibraryTakesNamedTypedInputsAndRefusesBadOnes against a library
 * of scripts/encoders.py's bert_tiny (inputs input_ids, token_type_ids, attention_mask:
 * int64 [1, 16]; outputs last_hidden_state [1, 16, 64], pooler_output [1, 64]). It runs
 * the good inputs it is given, writes both outputs, then makes every bad call the C API
 * must refuse with -1 and a message, printing "<case>: <rc> <message>" for each; the test
 * checks the messages. Usage: c_api_client IDS TYPES MASK HIDDEN_OUT POOLED_OUT */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "priortune_model.h"

static int read_file(const char* path, void* data, size_t bytes) {
  FILE* f = fopen(path, "rb");
  size_t got = f ? fread(data, 1, bytes, f) : 0;
  if (f) fclose(f);
  return got == bytes;
}

static void report(const char* what, int rc) { printf("%s: %d %s\n", what, rc, rc ? pt_model_last_error() : ""); }

int main(int argc, char** argv) {
  int64_t ids[16], types[16], mask[16], wide[16];
  int32_t ids32[16];
  float hidden[16 * 64], pooled[64];
  pt_model* m;
  int64_t dims[4];
  int rank;
  if (argc != 6 || !read_file(argv[1], ids, sizeof ids) || !read_file(argv[2], types, sizeof types) ||
      !read_file(argv[3], mask, sizeof mask)) {
    fprintf(stderr, "c_api_client: bad arguments or input files\n");
    return 2;
  }
  m = pt_model_create();
  if (!m) {
    fprintf(stderr, "c_api_client: %s\n", pt_model_last_error());
    return 1;
  }
  rank = pt_model_input_shape(m, 0, dims, 4);
  printf("inputs %d outputs %d; %s %d rank %d [%lld %lld]\n", pt_model_input_count(m), pt_model_output_count(m),
         pt_model_input_name(m, 0), pt_model_input_dtype(m, 0), rank, (long long)dims[0], (long long)dims[1]);
  printf("out of range: %s %d %lld %d\n", pt_model_input_name(m, 3) ? "named" : "null", pt_model_output_dtype(m, -1),
         (long long)pt_model_output_elements(m, 2), pt_model_output_shape(m, 9, dims, 4));
  {
    pt_input in[3] = {{"attention_mask", PT_INT64, mask, 16}, {"input_ids", PT_INT64, ids, 16},
                      {"token_type_ids", PT_INT64, types, 16}};
    pt_output out[2] = {{"pooler_output", PT_FLOAT32, pooled, 64}, {"last_hidden_state", PT_FLOAT32, hidden, 1024}};
    FILE* f;
    report("good", pt_model_run_named(m, in, 3, out, 2));
    f = fopen(argv[4], "wb");
    fwrite(hidden, sizeof hidden, 1, f);
    fclose(f);
    f = fopen(argv[5], "wb");
    fwrite(pooled, sizeof pooled, 1, f);
    fclose(f);
    report("no outputs asked", pt_model_run_named(m, in, 3, out, 0));

    in[1].dtype = PT_INT32;
    for (int k = 0; k < 16; ++k) ids32[k] = (int32_t)ids[k];
    in[1].data = ids32;
    report("wrong dtype", pt_model_run_named(m, in, 3, out, 2));
    in[1].dtype = PT_INT64;
    in[1].data = ids;
    in[1].elements = 15;
    report("wrong length", pt_model_run_named(m, in, 3, out, 2));
    in[1].elements = 16;
    report("missing input", pt_model_run_named(m, in, 2, out, 2));
    memcpy(wide, ids, sizeof ids);
    wide[5] = 1000; /* the vocabulary is 0..999 */
    in[1].data = wide;
    report("id past the vocabulary", pt_model_run_named(m, in, 3, out, 2));
    wide[5] = -1001;
    report("id before the vocabulary", pt_model_run_named(m, in, 3, out, 2));
    in[1].data = ids;
    in[2].name = "token_types";
    report("unknown input", pt_model_run_named(m, in, 3, out, 2));
    in[2].name = "input_ids";
    report("input twice", pt_model_run_named(m, in, 3, out, 2));
    in[2].name = "token_type_ids";
    in[2].dtype = 11; /* ONNX's double */
    report("unknown type code", pt_model_run_named(m, in, 3, out, 2));
    in[2].dtype = PT_INT64;
    in[2].data = NULL;
    report("null data", pt_model_run_named(m, in, 3, out, 2));
    in[2].data = types;
    out[0].elements = 63;
    report("wrong output length", pt_model_run_named(m, in, 3, out, 2));
    out[0].elements = 64;
    out[1].name = "logits";
    report("unknown output", pt_model_run_named(m, in, 3, out, 2));
    out[1].name = "last_hidden_state";
    report("float-only call", pt_model_run(m, (const float*)ids, 16, hidden, 1024));
    report("null model", pt_model_run_named(NULL, in, 3, out, 2));
    report("good again", pt_model_run_named(m, in, 3, out, 2));
  }
  pt_model_destroy(m);
  return 0;
}
