// envoy-pyext: Apache-2.0
//
// The only place the shim touches GIL state.
//
// THREAD: every Envoy thread (main and each worker) gets one PyThreadState the first time it
// enters Python and keeps it for the life of the process. Taking the GIL is then a plain
// PyEval_RestoreThread/PyEval_SaveThread pair (~40 ns) instead of PyGILState_Ensure creating and
// deleting a thread state on every call (~290 ns, measured; see docs/PERFORMANCE.md).
#pragma once

#include <Python.h>

namespace pyext {

class GilGuard {
 public:
  GilGuard() {
    // Re-entry: Envoy may call a hook from inside a callback that Python made (for instance
    // stream_complete from inside send_response), and unit tests call hooks from Python.
    if (PyGILState_Check()) return;
    PyThreadState* ts = thread_state_;
    if (ts == nullptr) {
      ts = PyGILState_GetThisThreadState();  // the main thread already has one
      if (ts == nullptr) ts = PyThreadState_New(PyInterpreterState_Main());
      thread_state_ = ts;
    }
    PyEval_RestoreThread(ts);
    acquired_ = true;
  }
  ~GilGuard() {
    if (acquired_) PyEval_SaveThread();
  }
  GilGuard(const GilGuard&) = delete;
  GilGuard& operator=(const GilGuard&) = delete;

 private:
  bool acquired_ = false;
  static thread_local PyThreadState* thread_state_;
};

}  // namespace pyext
