// envoy-pyext: Apache-2.0
//
// The contract between the C++ shim (cpp/*.cc) and the Cython core (src/envoy_pyext/_native.pyx).
// The shim owns the two small structs below and decides, without touching Python, whether a hook
// needs Python at all (`hooks` bitmask). Everything else (views, policy, errors) is Cython.
#pragma once

#include <Python.h>
#include <stdint.h>

#include "envoy_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

// Bits of pyext_config.hooks: which hooks the user's class overrides (computed once per config).
enum {
  PYEXT_HOOK_DECODE_HEADERS = 1u << 0,
  PYEXT_HOOK_DECODE_DATA = 1u << 1,
  PYEXT_HOOK_DECODE_TRAILERS = 1u << 2,
  PYEXT_HOOK_ENCODE_HEADERS = 1u << 3,
  PYEXT_HOOK_ENCODE_DATA = 1u << 4,
  PYEXT_HOOK_ENCODE_TRAILERS = 1u << 5,
  PYEXT_HOOK_ON_LOG = 1u << 6,
  PYEXT_HOOK_ON_DESTROY = 1u << 7,
};

// One per filter config (DynamicModuleFilter entry). Created on Envoy's main thread.
typedef struct pyext_config {
  uint32_t hooks;  // PYEXT_HOOK_* bits; read without the GIL on worker threads (immutable).
  PyObject* py;    // OWNERSHIP: strong ref to the Cython FilterConfig.
} pyext_config;

// pyext_stream.python_busy bits (set by Cython, read by the shim without the GIL).
enum {
  PYEXT_BUSY_REPLIED = 1u << 0,  // a local reply was sent, or an error answered
  PYEXT_BUSY_PENDING = 1u << 1,  // a hook is pending (coroutine or thread)
};

// One per HTTP stream. Allocated by the shim in filter_new (no GIL), freed by the shim after
// destroy (at once, or at the worker's next GIL hold; see http_filter.cc).
typedef struct pyext_stream {
  pyext_config* config;
  // NULL once Envoy destroyed the stream (set by the shim, no GIL needed: only ever cleared).
  envoy_dynamic_module_type_http_filter_envoy_ptr envoy_ptr;
  PyObject* py;  // OWNERSHIP: strong ref to the user's Filter instance, NULL until first needed.
  // Set by Cython while the stream waits on Python (a coroutine or thread is pending), so that
  // the shim routes every event to Python even for hooks the class does not override.
  uint32_t python_busy;
} pyext_stream;

// ---- implemented in Cython (cdef public ... noexcept), called by the shim with the GIL held ----
int pyext_bootstrap(void);  // 0 on success; on failure the error is already logged.
pyext_config* pyext_on_config_new(envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr,
                                  const char* name, size_t name_length, const char* config,
                                  size_t config_length);
void pyext_on_config_destroy(pyext_config* config);
int pyext_on_request_headers(pyext_stream* s, int end_of_stream);
int pyext_on_request_body(pyext_stream* s, int end_of_stream);
int pyext_on_request_trailers(pyext_stream* s);
int pyext_on_response_headers(pyext_stream* s, int end_of_stream);
int pyext_on_response_body(pyext_stream* s, int end_of_stream);
int pyext_on_response_trailers(pyext_stream* s);
void pyext_on_stream_complete(pyext_stream* s);
void pyext_on_destroy(pyext_stream* s);
void pyext_on_scheduled(pyext_stream* s, uint64_t event_id);

#ifdef __cplusplus
}  // extern "C"
#endif
