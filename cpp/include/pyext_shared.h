// envoy-pyext: Apache-2.0
//
// envoy_pyext.shared: one process-wide key/value store with atomic counters, in C++ memory, so
// that every interpreter (the main one and each worker's sub-interpreter, docs/design.md
// "Interpreters") sees the same entries. Keys and values are bytes; no Python object is kept.
// Each per-worker interpreter runs its own copy of the core (cpp/interp.cc); the host hands it
// the process's store (pyext_shared_use) so that all copies share the first one's.
//
// The same operations serve the runtime's own process-wide data, each in its own space (other
// maps, invisible to envoy_pyext.shared): pyext_shared()->space(PYEXT_SPACE_*).
//
// THREAD: every operation takes the store's mutex for a few map operations; none calls Python,
// so callers may hold any interpreter's GIL.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PYEXT_SPACE_SHARED = 0,         // envoy_pyext.shared
  PYEXT_SPACE_RUNTIME = 1,        // envoy_pyext.runtime's values (native/runtime.pxi)
  PYEXT_SPACE_ROUTE_CONFIGS = 2,  // the live per-route configs (native/routeconfig.pxi)
  PYEXT_SPACES = 3,
};

typedef struct pyext_shared_ops {
  // 1 and *out (malloc'd, the caller frees it) when the key is set, 0 when it is not, -1 on
  // out of memory.
  int (*get)(const char* key, size_t key_len, char** out, size_t* out_len);
  // Sets the value; with `expected` non-NULL only if the current value equals it (expected_state
  // 1), or only if the key is unset (expected_state 0); expected_state -1: unconditionally.
  // 1 when set, 0 when the condition failed, -1 on out of memory.
  int (*set)(const char* key, size_t key_len, const char* value, size_t value_len,
             int expected_state, const char* expected, size_t expected_len);
  int (*erase)(const char* key, size_t key_len);  // 1 when the key was set
  // Adds delta to the counter (a separate namespace from values; starts at 0) and returns the
  // new value; *ok is 0 on out of memory.
  int64_t (*add)(const char* key, size_t key_len, int64_t delta, int* ok);
  // The keys (values, or counters when `counters`), each NUL-separated, in *out (malloc'd).
  int (*keys)(int counters, char** out, size_t* out_len);
  void (*clear)(void);
  // The operations of space `which` (PYEXT_SPACE_*) of the same process-wide stores; NULL for an
  // unknown space.
  const struct pyext_shared_ops* (*space)(int which);
} pyext_shared_ops;

// The store this copy of the core uses.
const pyext_shared_ops* pyext_shared(void);
// Makes this copy of the core use `ops` (another copy's store): called once by the host when it
// loads a copy for a sub-interpreter, before that copy runs.
void pyext_shared_use(const pyext_shared_ops* ops);

#ifdef __cplusplus
}  // extern "C"
#endif
