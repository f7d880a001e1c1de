// envoy-pyext: Apache-2.0
//
// The owner of a Python object held by Envoy's filter state (filter_state.set_object,
// src/envoy_pyext/native/filterstate.pxi): the interpreter that made it, and how to drop it
// there (cpp/fsobj.cc). Called by the Cython core; each copy of libpyfilter.so (one per
// per-worker sub-interpreter, cpp/interp.cc) calls its own (hidden symbols).
//
// Envoy destroys the object when the stream (or connection) ends, on the worker, with any
// interpreter's GIL or none held: inside a hook of the same interpreter (a refused or replaced
// entry), inside a hook of another one (a filter of the other interpreter replacing the key,
// a nested local-reply hook), or outside any hook (the stream's or connection's end). The
// reference is dropped in the owning interpreter, with its GIL; the caller's own interpreter
// state is restored on return. Interpreters are never ended (docs/design.md "Interpreters"), so
// the owner is always there (and Envoy keeps a removed filter config until its objects are
// dropped).
#pragma once

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyext_fs_owner {
  PyInterpreterState* interp;  // the interpreter that made the object
  // Its thread state on the thread that stored the object (a per-worker interpreter's
  // worker: that thread state lives as long as the process), and that thread.
  PyThreadState* home;
  unsigned long thread;
} pyext_fs_owner;

// Records the calling interpreter (GIL held, in a hook of the stream) as the owner.
void pyext_fs_claim(pyext_fs_owner* o);
// 1 when the calling interpreter (GIL held) owns the object.
int pyext_fs_mine(const pyext_fs_owner* o);
// Drops `obj` (a strong reference) in its owner. Any thread, any interpreter's GIL or none.
void pyext_fs_drop(PyObject* obj, const pyext_fs_owner* o);

#ifdef __cplusplus
}  // extern "C"
#endif
