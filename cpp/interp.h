// envoy-pyext: Apache-2.0
//
// Per-worker sub-interpreters (CPython 3.12+, PEP 684: one GIL per interpreter) for filter
// configs with `interpreter: per_worker`. docs/design.md "Interpreters" has the model:
//  - each Envoy worker that runs such a filter gets its own interpreter, made on that worker at
//    its first use (the first one is made on the main thread when the first per_worker config
//    loads, as its check, and then serves the first worker that asks);
//  - each interpreter runs its OWN COPY of the Cython core: libpyfilter.so copied into memory
//    (memfd) and dlopen'ed, so the core's C globals, static types and caches are per
//    interpreter, and the default (shared) path runs the same code as before at the same speed;
//  - a per_worker config holds, per interpreter, the config that interpreter's core made from
//    the same bytes (import and parse_config there), made at the first stream on that worker;
//  - config destroy frees each of those in its own interpreter.
#pragma once

#include <Python.h>

#include "gil.h"
#include "pyext_shared.h"
#include "pyext_shim.h"

extern "C" {

// The functions of one copy of the core that the shim calls (the copy's pyext_* functions).
typedef struct pyext_core {
  PyObject* (*init)(void);  // PyInit__native
  int (*bootstrap)(void);
  pyext_config* (*config_new)(envoy_dynamic_module_type_http_filter_config_envoy_ptr,
                              const char*, size_t, const char*, size_t);
  pyext_config* (*config_new_per_worker)(envoy_dynamic_module_type_http_filter_config_envoy_ptr,
                                         const char*, size_t, const char*, size_t, const char*,
                                         size_t, char**, size_t*);
  void (*config_destroy)(pyext_config*);
  int (*request_headers)(pyext_stream*, int);
  int (*request_body)(pyext_stream*, int);
  int (*request_trailers)(pyext_stream*);
  int (*response_headers)(pyext_stream*, int);
  int (*response_body)(pyext_stream*, int);
  int (*response_trailers)(pyext_stream*);
  void (*stream_complete)(pyext_stream*);
  void (*destroy)(pyext_stream*);
  void (*scheduled)(pyext_stream*, uint64_t);
  int (*local_reply)(pyext_stream*, uint32_t, const char*, size_t, int);
  void (*callout_headers)(pyext_stream*, uint64_t, envoy_dynamic_module_type_envoy_http_header*,
                          size_t, int);
  void (*callout_data)(pyext_stream*, uint64_t, const envoy_dynamic_module_type_envoy_buffer*,
                       size_t, int);
  void (*callout_trailers)(pyext_stream*, uint64_t, envoy_dynamic_module_type_envoy_http_header*,
                           size_t);
  void (*callout_end)(pyext_stream*, uint64_t, int);
  const pyext_shared_ops* (*shared)(void);
  void (*shared_use)(const pyext_shared_ops*);
} pyext_core;

}  // extern "C"

struct pyext_interp {
  int index;                  // 0, 1, ... in creation order
  PyInterpreterState* state;
  const pyext_core* core;     // this interpreter's copy of the core
};

namespace pyext {

// Called by config_new on the main thread (main GIL held) for a config Cython marked
// per_worker: loads it in a sub-interpreter (the check: import, parse_config). False (logged)
// rejects the config.
bool per_worker_config_init(pyext_config* outer,
                            envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr,
                            const char* name, size_t name_length, const char* config,
                            size_t config_length);
// Frees each interpreter's config in its own interpreter, then `outer`. Any thread, no GIL held.
void per_worker_config_destroy(pyext_config* outer);

// How a hook of a stream under a per_worker config enters Python: this worker's interpreter
// (made at its first use), its GIL held through `guard`, the streams this worker buried there
// finalised, and on the stream's first entry its rebinding to this interpreter's config
// (s->config then has `interp` set). False (logged; the stream answered 500 when it still can
// be) when the interpreter or its config could not be made.
bool enter_worker_interp(pyext_stream* s, InterpreterGuard* guard);
// A stream of a sub-interpreter destroyed with nothing to run in Python: finalised at this
// worker's next entry into that interpreter (as http_filter.cc's graveyard does for the main).
void bury_in_worker_interp(pyext_stream* s);

// The core of the stream's config: the sub-interpreter's copy.
inline const pyext_core* core_of(const pyext_stream* s) { return s->config->interp->core; }

}  // namespace pyext
