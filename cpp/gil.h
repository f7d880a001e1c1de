// envoy-pyext: Apache-2.0
//
// The only place the shim touches GIL state.
//
// THREAD: every Envoy thread (main and each worker) gets one PyThreadState the first time it
// enters Python and keeps it for the life of the process. Taking the GIL is then a plain
// PyEval_RestoreThread/PyEval_SaveThread pair (~40 ns) instead of PyGILState_Ensure creating and
// deleting a thread state on every call (~290 ns, measured; see docs/PERFORMANCE.md).
//
// Interpreters (docs/design.md "Interpreters"): with per-worker sub-interpreters (CPython 3.12+,
// one GIL each) a thread may hold another interpreter's GIL when a hook of the main one runs
// (a per-worker filter's send_local_reply reaching a shared filter's local_reply hook). Re-entry
// is therefore decided by the interpreter of the thread's current thread state, never by
// PyGILState_Check() (CPython turns that check off once a sub-interpreter exists); a guard entered
// from another interpreter's call saves that thread state and restores it when it ends.
#pragma once

#include <Python.h>

namespace pyext {

// The calling thread's current thread state, or nullptr (no GIL held), without a fatal error.
inline PyThreadState* current_thread_state() {
#if PY_VERSION_HEX >= 0x030D0000
  return PyThreadState_GetUnchecked();
#elif PY_VERSION_HEX >= 0x030C0000
  return _PyThreadState_UncheckedGet();  // thread-local since 3.12
#else
  // 3.11: the "current" thread state is process-wide (whoever holds the GIL), and there are no
  // sub-interpreters here, so PyGILState_Check() is the test (as before interpreters existed).
  return PyGILState_Check() ? PyGILState_GetThisThreadState() : nullptr;
#endif
}

// Holds the GIL of `ts`'s interpreter with `ts` current for the guard's life. Re-entrant: a
// thread already running in that interpreter keeps its thread state.
class InterpreterGuard {
 public:
  InterpreterGuard() = default;
  explicit InterpreterGuard(PyThreadState* ts) { enter(ts); }
  void enter(PyThreadState* ts) { enter(ts, current_thread_state()); }
  // `cur`: the caller's current_thread_state(), already read.
  void enter(PyThreadState* ts, PyThreadState* cur) {
    if (cur != nullptr) {
      if (PyThreadState_GetInterpreter(cur) == PyThreadState_GetInterpreter(ts)) return;
      saved_ = PyEval_SaveThread();  // inside another interpreter's call: back at the end
    }
    PyEval_RestoreThread(ts);
    acquired_ = true;
  }
  ~InterpreterGuard() {
    if (acquired_) PyEval_SaveThread();
    if (saved_ != nullptr) PyEval_RestoreThread(saved_);
  }
  InterpreterGuard(const InterpreterGuard&) = delete;
  InterpreterGuard& operator=(const InterpreterGuard&) = delete;

 private:
  bool acquired_ = false;
  PyThreadState* saved_ = nullptr;
};

// Runs f in `interp` with a thread state made for the call (a thread that is not the one the
// interpreter's worker uses; a config freed from Envoy's main thread, a filter state object
// dropped on another thread). Any interpreter's GIL (or none) held by the caller; the same on
// return.
template <class F>
void with_temporary_state(PyInterpreterState* interp, F f) {
  PyThreadState* saved = current_thread_state() != nullptr ? PyEval_SaveThread() : nullptr;
  PyThreadState* ts = PyThreadState_New(interp);
  PyEval_RestoreThread(ts);
  f();
  PyThreadState_Clear(ts);
  PyThreadState_DeleteCurrent();  // and releases its GIL
  if (saved != nullptr) PyEval_RestoreThread(saved);
}

// This thread's thread state in the main interpreter (nullptr until its first use): a field of
// the shim's one per-thread struct (http_filter.cc), since in a library Envoy loads with dlopen
// every thread-local reached costs a __tls_get_addr call. A hook that has the struct already
// passes the field to GilGuard itself.
PyThreadState*& thread_main_state_slot();

// The main interpreter (the shared one: every filter config without `interpreter: per_worker`).
class GilGuard {
 public:
  GilGuard() : GilGuard(thread_main_state_slot()) {}
  explicit GilGuard(PyThreadState*& slot) {
    PyThreadState* ts = main_thread_state(slot);
#if PY_VERSION_HEX < 0x030C0000
    // 3.11 (no sub-interpreters here): the process-wide current thread state is this thread's
    // own exactly when this thread holds the GIL. One load instead of PyGILState_Check's two
    // thread-specific lookups (this runs twice per request).
    PyThreadState* cur = _PyThreadState_UncheckedGet();
    if (cur == ts) return;  // re-entry (see below)
    guard_.enter(ts, nullptr);
#else
    PyThreadState* cur = current_thread_state();
    // Re-entry: Envoy may call a hook from inside a callback that Python made (for instance
    // stream_complete from inside send_response), and unit tests call hooks from Python.
    if (cur != nullptr && PyThreadState_GetInterpreter(cur) == PyInterpreterState_Main()) return;
    guard_.enter(ts, cur);
#endif
  }
  GilGuard(const GilGuard&) = delete;
  GilGuard& operator=(const GilGuard&) = delete;

  // This thread's thread state in the main interpreter (made at its first use).
  static PyThreadState* main_thread_state(PyThreadState*& slot) {
    PyThreadState* ts = slot;
    if (ts == nullptr) {
      ts = PyGILState_GetThisThreadState();  // the main thread already has one
      if (ts == nullptr || PyThreadState_GetInterpreter(ts) != PyInterpreterState_Main()) {
        ts = PyThreadState_New(PyInterpreterState_Main());
      }
      slot = ts;
    }
    return ts;
  }

 private:
  InterpreterGuard guard_;
};

}  // namespace pyext
