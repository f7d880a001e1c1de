// envoy-pyext: Apache-2.0
//
// The contract between the C++ shim (cpp/*.cc) and the Cython core (src/envoy_pyext/_native.pyx).
// The shim owns the two small structs below and decides, without touching Python, whether a hook
// needs Python at all (`events` bitmask). Everything else (views, policy, errors) is Cython.
#pragma once

#include <Python.h>
#include <stdint.h>

#include "envoy_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

// The ABI events the shim can route to Python: bits of pyext_config.events. WHICH events a
// filter class needs is decided in Cython (native/config.pxi) from the hooks the class
// overrides; the shim only tests the bit, so no rule is written twice.
enum {
  PYEXT_EV_REQUEST_HEADERS = 1u << 0,
  PYEXT_EV_REQUEST_BODY = 1u << 1,
  PYEXT_EV_REQUEST_TRAILERS = 1u << 2,
  PYEXT_EV_RESPONSE_HEADERS = 1u << 3,
  PYEXT_EV_RESPONSE_BODY = 1u << 4,
  PYEXT_EV_RESPONSE_TRAILERS = 1u << 5,
  PYEXT_EV_STREAM_COMPLETE = 1u << 6,
  PYEXT_EV_DESTROY = 1u << 7,
  PYEXT_EV_LOCAL_REPLY = 1u << 8,
};

struct pyext_interp;      // cpp/interp.h: one per-worker sub-interpreter and its core
struct pyext_per_worker;  // cpp/interp.h: a per_worker config's configs, one per interpreter

// One per filter config (DynamicModuleFilter entry). Created on Envoy's main thread; with
// `interpreter: per_worker`, also one per sub-interpreter, on that interpreter's worker.
typedef struct pyext_config {
  uint32_t events;  // PYEXT_EV_* bits; read without the GIL on worker threads (immutable).
  PyObject* py;     // OWNERSHIP: strong ref to the Cython FilterConfig (NULL: per_worker).
  // 1 when Cython found `interpreter: per_worker` in the main interpreter: `py` is NULL and the
  // shim owns `per_worker` (the configs made in each worker's interpreter, cpp/interp.cc).
  uint32_t per_worker;
  struct pyext_per_worker* per_worker_state;
  // The sub-interpreter whose copy of the core made `py`; NULL for the main interpreter.
  struct pyext_interp* interp;
} pyext_config;

// pyext_stream.python_busy bits (set by Cython, read by the shim without the GIL).
enum {
  PYEXT_BUSY_ROUTE_ALL = 1u << 0,  // the stream's phase needs Python for every event
  PYEXT_BUSY_PENDING = 1u << 1,    // a hook is pending (coroutine or thread): destroy at once
};

// One per HTTP stream. Allocated by the shim in filter_new (no GIL), freed by the shim after
// destroy (at once, or at the worker's next GIL hold; see http_filter.cc).
typedef struct pyext_stream {
  pyext_config* config;
  // NULL once Envoy destroyed the stream (set by the shim, no GIL needed: only ever cleared).
  envoy_dynamic_module_type_http_filter_envoy_ptr envoy_ptr;
  PyObject* py;  // OWNERSHIP: strong ref to the Cython _Stream, NULL until first needed.
  // THREAD: written by Cython on the stream's worker (GIL held), read by the shim on the same
  // worker without the GIL.
  uint32_t python_busy;
  // 1 once Envoy reported the stream complete (set by the shim, with or without the GIL: only
  // ever set). Threads still using the stream from then on get StreamDestroyedError.
  uint32_t complete;
} pyext_stream;

// ---- implemented in Cython (cdef public ... noexcept), called by the shim with the GIL held ----
int pyext_bootstrap(void);  // 0 on success; on failure the error is already logged.
pyext_config* pyext_on_config_new(envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr,
                                  const char* name, size_t name_length, const char* config,
                                  size_t config_length);
// A per_worker config in a sub-interpreter (cpp/interp.cc): the check load (ids NULL: defines
// the metrics, *ids_out = their ids, malloc'd) or a worker's load (ids: the check load's).
pyext_config* pyext_on_config_new_per_worker(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr, const char* name,
    size_t name_length, const char* config, size_t config_length, const char* ids,
    size_t ids_length, char** ids_out, size_t* ids_out_length);
void pyext_on_config_destroy(pyext_config* config);
// Per-route configuration (typed_per_filter_config), main thread: Cython's handle of the parsed
// per-route config (C memory, routeconfig.pxd), or NULL to reject the route configuration.
void* pyext_on_per_route_config_new(const char* name, size_t name_length, const char* config,
                                    size_t config_length);
void pyext_on_per_route_config_destroy(void* route_config);
// The main interpreter's runtime refresher (runtime.pxi) for a per_worker config, main thread:
// a scheduler of that config (NULL: none) that the refresher commits to, deleted at its destroy;
// that config's scheduled events go to pyext_runtime_scheduled.
void* pyext_runtime_scheduler_new(envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr);
void pyext_runtime_scheduler_delete(void* sched);
void pyext_runtime_scheduled(uint64_t event_id);
int pyext_on_request_headers(pyext_stream* s, int end_of_stream);
int pyext_on_request_body(pyext_stream* s, int end_of_stream);
int pyext_on_request_trailers(pyext_stream* s);
int pyext_on_response_headers(pyext_stream* s, int end_of_stream);
int pyext_on_response_body(pyext_stream* s, int end_of_stream);
int pyext_on_response_trailers(pyext_stream* s);
void pyext_on_stream_complete(pyext_stream* s);
void pyext_on_destroy(pyext_stream* s);
void pyext_on_scheduled(pyext_stream* s, uint64_t event_id);
// A local reply is about to be sent: an envoy_dynamic_module_type_on_http_filter_local_reply_status.
int pyext_on_local_reply(pyext_stream* s, uint32_t response_code, const char* details,
                         size_t details_length, int reset_imminent);
void pyext_on_callout_headers(pyext_stream* s, uint64_t stream_id,
                              envoy_dynamic_module_type_envoy_http_header* headers, size_t n,
                              int end_stream);
void pyext_on_callout_data(pyext_stream* s, uint64_t stream_id,
                           const envoy_dynamic_module_type_envoy_buffer* data, size_t n,
                           int end_stream);
void pyext_on_callout_trailers(pyext_stream* s, uint64_t stream_id,
                               envoy_dynamic_module_type_envoy_http_header* trailers, size_t n);
// reason: -1 when the stream completed, else an envoy_dynamic_module_type_http_stream_reset_reason.
void pyext_on_callout_end(pyext_stream* s, uint64_t stream_id, int reason);
// Config-level (Envoy's main thread): scheduled events and calls not tied to a request.
void pyext_on_config_scheduled(pyext_config* c, uint64_t event_id);
void pyext_on_config_callout_headers(pyext_config* c, uint64_t stream_id,
                                     envoy_dynamic_module_type_envoy_http_header* headers,
                                     size_t n, int end_stream);
void pyext_on_config_callout_data(pyext_config* c, uint64_t stream_id,
                                  const envoy_dynamic_module_type_envoy_buffer* data, size_t n,
                                  int end_stream);
void pyext_on_config_callout_trailers(pyext_config* c, uint64_t stream_id,
                                      envoy_dynamic_module_type_envoy_http_header* trailers,
                                      size_t n);
void pyext_on_config_callout_end(pyext_config* c, uint64_t stream_id, int reason);

#ifdef __cplusplus
}  // extern "C"
#endif
