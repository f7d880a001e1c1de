// envoy-pyext: Apache-2.0
//
// Filter state objects' owners: cpp/include/pyext_fsobj.h.
#include "pyext_fsobj.h"

#include "gil.h"

extern "C" {

void pyext_fs_claim(pyext_fs_owner* o) {
  o->home = PyThreadState_Get();
  o->interp = PyThreadState_GetInterpreter(o->home);
  o->thread = PyThread_get_thread_ident();
}

int pyext_fs_mine(const pyext_fs_owner* o) { return o->interp == PyInterpreterState_Get(); }

void pyext_fs_drop(PyObject* obj, const pyext_fs_owner* o) {
  PyThreadState* cur = pyext::current_thread_state();
  if (cur != nullptr && PyThreadState_GetInterpreter(cur) == o->interp) {
    Py_DECREF(obj);  // already running there (a refused or replaced entry)
  } else if (o->interp == PyInterpreterState_Main()) {
    pyext::GilGuard gil;  // this thread's main thread state, as the shim's hooks
    Py_DECREF(obj);
  } else if (PyThread_get_thread_ident() == o->thread) {
    pyext::InterpreterGuard guard(o->home);  // the worker's own thread state there
    Py_DECREF(obj);
  } else {
    pyext::with_temporary_state(o->interp, [obj] { Py_DECREF(obj); });
  }
}

}  // extern "C"
