// envoy-pyext: Apache-2.0
//
// Every envoy_dynamic_module_on_http_filter_* hook Envoy 1.40 requires. Each one is: decide from
// the config's hook bitmask whether Python is needed at all (no GIL), take the GIL, call the
// Cython function of the same name (pyext_on_*), return its status. No policy lives here; the
// try/catch is a last resort for allocation failures, since the Cython functions are noexcept.
#include <algorithm>
#include <cstdlib>
#include <new>
#include <optional>

#include "gil.h"
#include "interp.h"
#include "log.h"
#include "pyext_shim.h"

#define PYEXT_EXPORT extern "C" __attribute__((visibility("default")))

using pyext::GilGuard;

namespace {

constexpr size_t kSpareStreams = 256;  // freed stream structs kept per thread, at most
constexpr size_t kGraveyardFlush = 64;  // destroyed streams waiting per thread, at most

// What the shim keeps per Envoy thread: plain data, constant-initialised. In a library Envoy
// loads with dlopen every reach of a thread-local is a __tls_get_addr call (two for one with a
// constructor: its guard too), so each hook reaches this once and passes it on.
struct ThreadLocals {
  // This thread's thread state in the main interpreter (GilGuard; made at its first use).
  PyThreadState* main_ts;
  // Streams Envoy destroyed whose Python side has nothing left to run (no on_destroy hook, no
  // pending work): instead of taking the GIL in destroy, they wait here and are finalised
  // (Python object released or recycled, struct freed) the next time this worker holds the
  // GIL anyway, or when kGraveyardFlush of them have piled up. Their envoy_ptr is cleared at
  // once, so a view kept by user code already raises StreamDestroyedError meanwhile.
  pyext_stream* graveyard[kGraveyardFlush];
  size_t buried;
  // Freed stream structs for the next streams of this thread (a worker frees the streams it
  // made): a pop and a clear instead of calloc, a push instead of free. Linked through their
  // `py` field.
  pyext_stream* spare;
  size_t spare_count;
};
thread_local ThreadLocals t_locals;

// This thread's ThreadLocals, reached once: the compiler would otherwise compute the address
// again (another __tls_get_addr call) after each call the hook makes.
inline ThreadLocals& thread_locals() {
  ThreadLocals* t = &t_locals;
  asm("" : "+r"(t));
  return *t;
}

// Frees the thread's spare structs when the thread ends (armed by its first calloc).
struct ThreadExit {
  bool armed = false;
  ~ThreadExit() {
    ThreadLocals& t = t_locals;
    while (t.spare != nullptr) {
      pyext_stream* next = reinterpret_cast<pyext_stream*>(t.spare->py);
      std::free(t.spare);
      t.spare = next;
    }
    t.spare_count = 0;
  }
};
thread_local ThreadExit t_exit;

pyext_stream* stream_alloc(ThreadLocals& t) {
  pyext_stream* s = t.spare;
  if (s == nullptr) {
    t_exit.armed = true;  // (registers its destructor for this thread)
    return static_cast<pyext_stream*>(std::calloc(1, sizeof(pyext_stream)));
  }
  t.spare = reinterpret_cast<pyext_stream*>(s->py);
  t.spare_count--;
  *s = pyext_stream{};
  return s;
}

void stream_free(ThreadLocals& t, pyext_stream* s) {
  if (t.spare_count >= kSpareStreams) {
    std::free(s);
    return;
  }
  s->py = reinterpret_cast<PyObject*>(t.spare);
  t.spare = s;
  t.spare_count++;
}

// With the GIL held, graveyard not empty.
__attribute__((noipa)) void flush_buried(ThreadLocals& t) {
  pyext_stream* batch[kGraveyardFlush];
  size_t n = t.buried;
  std::copy(t.graveyard, t.graveyard + n, batch);
  t.buried = 0;  // (a destroy run from here may bury more: they wait for the next flush)
  for (size_t i = 0; i < n; i++) {
    pyext_on_destroy(batch[i]);
    stream_free(t, batch[i]);
  }
}

inline void flush_graveyard(ThreadLocals& t) {
  if (t.buried != 0) flush_buried(t);
}

// How every hook of a stream enters Python. The shared interpreter (the default): the main GIL
// plus the graveyard flush. A per_worker config (interp.h): this worker's interpreter.
// `t`: this thread's ThreadLocals, which the hook reached once.
class PythonScope {
 public:
  PythonScope(pyext_stream* s, ThreadLocals& t) {
    if (s->config->interp == nullptr && s->config->per_worker == 0) {
      gil_.emplace(t.main_ts);
      flush_graveyard(t);
    } else {
      ok_ = pyext::enter_worker_interp(s, &sub_);
    }
  }
  bool ok() const { return ok_; }

 private:
  std::optional<GilGuard> gil_;
  pyext::InterpreterGuard sub_;
  bool ok_ = true;
};

// Calls the stream's core: the linked one, or its sub-interpreter's copy (after PythonScope).
#define PYEXT_CALL(s, fn, ...) \
  ((s)->config->interp == nullptr ? pyext_on_##fn(__VA_ARGS__) : pyext::core_of(s)->fn(__VA_ARGS__))

inline pyext_stream* stream_of(envoy_dynamic_module_type_http_filter_module_ptr p) {
  return static_cast<pyext_stream*>(const_cast<void*>(p));
}

// True when this event must reach Python: the filter config routes it (Cython decided from
// the class's hooks), or the stream's phase needs Python for every event.
inline bool wants(const pyext_stream* s, uint32_t event) {
  return (s->config->events & event) != 0 || s->python_busy != 0;
}

}  // namespace

PyThreadState*& pyext::thread_main_state_slot() { return thread_locals().main_ts; }

PYEXT_EXPORT envoy_dynamic_module_type_http_filter_config_module_ptr
envoy_dynamic_module_on_http_filter_config_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config_envoy_ptr,
    envoy_dynamic_module_type_envoy_buffer name, envoy_dynamic_module_type_envoy_buffer config) {
  GilGuard gil;
  pyext_config* c =
      pyext_on_config_new(config_envoy_ptr, name.ptr, name.length, config.ptr, config.length);
  // `interpreter: per_worker` (Cython checked the option): loaded per interpreter (interp.h).
  if (c != nullptr && c->per_worker &&
      !pyext::per_worker_config_init(c, config_envoy_ptr, name.ptr, name.length, config.ptr,
                                     config.length)) {
    pyext::per_worker_config_destroy(c);
    return nullptr;
  }
  return c;
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_destroy(
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr) {
  auto* c = static_cast<pyext_config*>(const_cast<void*>(config_module_ptr));
  if (c->per_worker) {
    pyext::per_worker_config_destroy(c);  // each interpreter's config in its interpreter
    return;
  }
  GilGuard gil;
  pyext_on_config_destroy(c);
}

// Per-route configuration (DynamicModuleFilterPerRoute in typed_per_filter_config), main thread.
PYEXT_EXPORT envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_on_http_filter_per_route_config_new(envoy_dynamic_module_type_envoy_buffer name,
                                                         envoy_dynamic_module_type_envoy_buffer config) {
  GilGuard gil;
  return pyext_on_per_route_config_new(name.ptr, name.length, config.ptr, config.length);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_per_route_config_destroy(
    envoy_dynamic_module_type_http_filter_per_route_config_module_ptr route_config) {
  GilGuard gil;
  pyext_on_per_route_config_destroy(const_cast<void*>(route_config));
}

PYEXT_EXPORT envoy_dynamic_module_type_http_filter_module_ptr envoy_dynamic_module_on_http_filter_new(
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr,
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr) {
  // No GIL: the Python Filter object is created lazily by the first hook that needs it.
  pyext_stream* s = stream_alloc(thread_locals());
  if (s == nullptr) {
    pyext::log_error("envoy-pyext: out of memory creating a stream; closing it");
    return nullptr;  // Envoy closes the stream.
  }
  s->config = static_cast<pyext_config*>(const_cast<void*>(config_module_ptr));
  s->envoy_ptr = filter_envoy_ptr;
  return s;
}

// An event the stream does not route to Python returns at once; the rest (entering Python,
// the handler) is a separate function, so that return costs no register saves or stack frame.
#define PYEXT_STATUS_HOOK(hook, event, eos, call, fallback)                            \
  {                                                                                    \
    pyext_stream* s = stream_of(filter_module_ptr);                                    \
    if (!wants(s, event)) return static_cast<decltype(fallback)>(0);                   \
    return [](pyext_stream* s, bool end_of_stream) __attribute__((noinline)) {         \
      (void)end_of_stream; /* (trailers hooks have none) */                            \
      try {                                                                            \
        PythonScope python(s, thread_locals());                                        \
        if (!python.ok()) return fallback;                                             \
        return static_cast<decltype(fallback)>(call);                                  \
      } catch (...) {                                                                  \
        pyext::log_error("envoy-pyext: internal error in " hook);                      \
        return fallback;                                                               \
      }                                                                                \
    }(s, eos);                                                                         \
  }

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_request_headers_status
envoy_dynamic_module_on_http_filter_request_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream)
    PYEXT_STATUS_HOOK("request_headers", PYEXT_EV_REQUEST_HEADERS, end_of_stream,
                      PYEXT_CALL(s, request_headers, s, end_of_stream),
                      envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration)

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_request_body_status
envoy_dynamic_module_on_http_filter_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream)
    PYEXT_STATUS_HOOK("request_body", PYEXT_EV_REQUEST_BODY, end_of_stream,
                      PYEXT_CALL(s, request_body, s, end_of_stream),
                      envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer)

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_request_trailers_status
envoy_dynamic_module_on_http_filter_request_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr)
    PYEXT_STATUS_HOOK("request_trailers", PYEXT_EV_REQUEST_TRAILERS, true,
                      PYEXT_CALL(s, request_trailers, s),
                      envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration)

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_response_headers_status
envoy_dynamic_module_on_http_filter_response_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream)
    PYEXT_STATUS_HOOK("response_headers", PYEXT_EV_RESPONSE_HEADERS, end_of_stream,
                      PYEXT_CALL(s, response_headers, s, end_of_stream),
                      envoy_dynamic_module_type_on_http_filter_response_headers_status_StopIteration)

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_response_body_status
envoy_dynamic_module_on_http_filter_response_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream)
    PYEXT_STATUS_HOOK("response_body", PYEXT_EV_RESPONSE_BODY, end_of_stream,
                      PYEXT_CALL(s, response_body, s, end_of_stream),
                      envoy_dynamic_module_type_on_http_filter_response_body_status_StopIterationNoBuffer)

PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_response_trailers_status
envoy_dynamic_module_on_http_filter_response_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr)
    PYEXT_STATUS_HOOK("response_trailers", PYEXT_EV_RESPONSE_TRAILERS, true,
                      PYEXT_CALL(s, response_trailers, s),
                      envoy_dynamic_module_type_on_http_filter_response_trailers_status_StopIteration)

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr) {
  pyext_stream* s = stream_of(filter_module_ptr);
  s->complete = 1;  // before the test: a thread of a class without on_log must see it too
  if (!wants(s, PYEXT_EV_STREAM_COMPLETE)) return;
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, stream_complete, s);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_destroy(
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr) {
  pyext_stream* s = stream_of(filter_module_ptr);
  ThreadLocals& t = thread_locals();
  if (s->py == nullptr) {  // Python never saw this stream
    stream_free(t, s);
    return;
  }
  // From here on the stream is dead to Python, with or without the GIL. Cython clears its own
  // pointer to this struct before the struct is freed, so a Filter or view that user code kept
  // can never reach freed memory.
  s->envoy_ptr = nullptr;
  if ((s->config->events & PYEXT_EV_DESTROY) != 0 || (s->python_busy & PYEXT_BUSY_PENDING)) {
    PythonScope python(s, t);  // on_destroy to run, or pending work to cancel: now
    if (python.ok()) PYEXT_CALL(s, destroy, s);
    stream_free(t, s);
    return;
  }
  if (s->config->interp != nullptr) {  // a per-worker interpreter's: flushed by its next entry
    pyext::bury_in_worker_interp(s);
    return;
  }
  t.graveyard[t.buried++] = s;
  if (t.buried >= kGraveyardFlush) {
    GilGuard gil(t.main_ts);
    flush_graveyard(t);
  }
}

// For tests: finalise the streams this thread's graveyard holds (the caller holds the GIL).
PYEXT_EXPORT void envoy_pyext_flush_destroyed_streams(void) {
  ThreadLocals& t = thread_locals();
  GilGuard gil(t.main_ts);
  flush_graveyard(t);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_scheduled(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t event_id) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, scheduled, s, event_id);
}

// ---- callouts: a stream to another service through one of Envoy's clusters ---------------
// OWNERSHIP: the header and buffer arrays are Envoy's, valid only during the call; Cython
// copies what it keeps. These run on the stream's worker, only for callouts Python started.
PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_stream_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* headers, size_t headers_size, bool end_stream) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, callout_headers, s, stream_id, headers, headers_size, end_stream);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_stream_data(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    const envoy_dynamic_module_type_envoy_buffer* data, size_t data_count, bool end_stream) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, callout_data, s, stream_id, data, data_count, end_stream);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_stream_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* trailers, size_t trailers_size) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, callout_trailers, s, stream_id, trailers, trailers_size);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, callout_end, s, stream_id, -1);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_stream_reset(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_http_stream_reset_reason reason) {
  pyext_stream* s = stream_of(filter_module_ptr);
  PythonScope python(s, thread_locals());
  if (python.ok()) PYEXT_CALL(s, callout_end, s, stream_id, static_cast<int>(reason));
}

// ---- config-level events (Envoy's main thread; optional hooks) --------------------------------
namespace {
inline pyext_config* config_of(envoy_dynamic_module_type_http_filter_config_module_ptr p) {
  return static_cast<pyext_config*>(const_cast<void*>(p));
}
}  // namespace

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_scheduled(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t event_id) {
  GilGuard gil;
  if (config_of(config_module_ptr)->per_worker) {  // the main interpreter's runtime refresher
    pyext_runtime_scheduled(event_id);
    return;
  }
  pyext_on_config_scheduled(config_of(config_module_ptr), event_id);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_http_stream_headers(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* headers, size_t headers_size, bool end_stream) {
  if (config_of(config_module_ptr)->per_worker) return;  // no config-level call per worker
  GilGuard gil;
  pyext_on_config_callout_headers(config_of(config_module_ptr), stream_id, headers, headers_size,
                                  end_stream);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_http_stream_data(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t stream_id,
    const envoy_dynamic_module_type_envoy_buffer* data, size_t data_count, bool end_stream) {
  if (config_of(config_module_ptr)->per_worker) return;  // no config-level call per worker
  GilGuard gil;
  pyext_on_config_callout_data(config_of(config_module_ptr), stream_id, data, data_count,
                               end_stream);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_http_stream_trailers(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* trailers, size_t trailers_size) {
  if (config_of(config_module_ptr)->per_worker) return;  // no config-level call per worker
  GilGuard gil;
  pyext_on_config_callout_trailers(config_of(config_module_ptr), stream_id, trailers,
                                   trailers_size);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_http_stream_complete(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t stream_id) {
  if (config_of(config_module_ptr)->per_worker) return;  // no config-level call per worker
  GilGuard gil;
  pyext_on_config_callout_end(config_of(config_module_ptr), stream_id, -1);
}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_config_http_stream_reset(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr config_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_http_stream_reset_reason reason) {
  if (config_of(config_module_ptr)->per_worker) return;  // no config-level call per worker
  GilGuard gil;
  pyext_on_config_callout_end(config_of(config_module_ptr), stream_id, static_cast<int>(reason));
}

// A local reply is about to be sent (optional hook): only classes with on_local_reply enter
// Python. It may run inside a Python hook (the filter's own send_local_reply): GilGuard knows.
PYEXT_EXPORT envoy_dynamic_module_type_on_http_filter_local_reply_status
envoy_dynamic_module_on_http_filter_local_reply(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint32_t response_code,
    envoy_dynamic_module_type_envoy_buffer details, bool reset_imminent) {
  pyext_stream* s = stream_of(filter_module_ptr);
  if ((s->config->events & PYEXT_EV_LOCAL_REPLY) == 0) {
    return envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue;
  }
  try {
    PythonScope python(s, thread_locals());
    if (!python.ok()) return envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue;
    return static_cast<envoy_dynamic_module_type_on_http_filter_local_reply_status>(PYEXT_CALL(
        s, local_reply, s, response_code, details.ptr, details.length, reset_imminent));
  } catch (...) {
    pyext::log_error("envoy-pyext: internal error in local_reply");
    return envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue;
  }
}

// ---- hooks Envoy 1.40 requires but envoy-pyext does not use: stubs ---------------------------
// (Unary callouts: envoy-pyext makes every call a stream, which it can reset when the caller
// gives up; see native/callout.pxi.)
PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, envoy_dynamic_module_type_http_callout_result,
    envoy_dynamic_module_type_envoy_http_header*, size_t, envoy_dynamic_module_type_envoy_buffer*,
    size_t) {}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr) {}

PYEXT_EXPORT void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr) {}
