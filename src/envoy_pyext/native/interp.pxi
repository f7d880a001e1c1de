# envoy-pyext: Apache-2.0
#
# Interpreters: the filter-config option `interpreter: per_worker` (docs/design.md
# "Interpreters"). In the main interpreter such a configuration is only checked here and handed
# to the shim (pyext_config.per_worker), which loads it in each worker's own sub-interpreter
# (CPython 3.12+, one GIL each; cpp/interp.cc), where a private copy of this core loads it as
# usual. What a sub-interpreter cannot do is refused here, with an error that says so.

import platform as _platform
import re as _re_interp

cdef extern from "Python.h":
    ctypedef struct PyInterpreterState:
        pass
    PyInterpreterState* PyInterpreterState_Get()
    PyInterpreterState* PyInterpreterState_Main()

# True in a per-worker sub-interpreter: this copy of the core serves that one only.
cdef bint _in_subinterp = PyInterpreterState_Get() != PyInterpreterState_Main()

cdef object _REFUSED_MODULE = _re_interp.compile(
    r"module (\S+) does not support loading in subinterpreters")


def in_subinterpreter():
    """True when this code runs in a per-worker sub-interpreter (``interpreter: per_worker``)."""
    return _in_subinterp


cdef bint _wants_per_worker(str name, str raw) except -1:
    """True when the main interpreter hands this configuration to the shim (checked here)."""
    if _in_subinterp or _code_loader().interpreter_of(name, raw) != "per_worker":
        return False
    _on_main_thread()   # publishes Envoy's main thread for the sub-interpreters (runtime.pxi)
    if _sys.version_info < (3, 12):
        raise FilterConfigError(
            f"envoy-pyext: {name}: interpreter 'per_worker' needs CPython 3.12 or later "
            f"(PEP 684: one GIL per interpreter); this Envoy runs Python "
            f"{_platform.python_version()}. Remove the option (the shared interpreter) or "
            f"run Envoy from a CPython 3.12+ virtualenv")
    return True


cdef pyext_config* _per_worker_config() except NULL:
    """The main interpreter's part of a per_worker configuration: no FilterConfig here."""
    cdef pyext_config* c = <pyext_config*>calloc(1, sizeof(pyext_config))
    if c == NULL:
        raise MemoryError()
    c.per_worker = 1
    return c


cdef int _refuse_in_subinterp(str what) except -1:
    if _in_subinterp:
        raise EnvoyPyextError(
            f"{what} is not available with interpreter 'per_worker' (each worker's "
            f"interpreter has its own objects; see docs/api.md \"Interpreters\")")
    return 0


cdef object _subinterp_load_error(str filter_name, BaseException e):
    """The error for a configuration a sub-interpreter cannot load: a module refusing
    sub-interpreters (numpy today) is named."""
    m = _REFUSED_MODULE.search(str(e))
    if m is None:
        return e
    module = m.group(1)
    return FilterConfigError(
        f"envoy-pyext: {filter_name}: interpreter 'per_worker': the extension module "
        f"{module!r} (package {module.partition('.')[0]!r}) does not support "
        f"sub-interpreters, so this filter cannot run in a worker's own interpreter; use the "
        f"shared interpreter for it (remove 'interpreter: per_worker'). Python said: {e}")


# A per_worker configuration's Envoy ids (its metrics, its error counter): defined once, by the
# check load on Envoy's main thread (Envoy defines metrics only there), and handed by the shim
# to each worker's load, as JSON: {"errors": id or null, "metrics": [[name, kind, labels, id]]}.

cdef bint _worker_ids_out(FilterConfig fc, char** out, size_t* out_length) except -1:
    """The check load's ids, into *out (malloc'd; the shim frees it). False: out of memory."""
    cdef _Metric m
    cdef bytes data = _json.dumps({
        "errors": fc.error_counter if fc.has_error_counter else None,
        "metrics": [[m.name, m.kind, list(m.labels), mid]
                    for m, mid in (fc.metric_ids or {}).items()]}).encode()
    out[0] = <char*>malloc(len(data) or 1)
    if out[0] == NULL:
        return False
    memcpy(out[0], <const char*>data, len(data))
    out_length[0] = len(data)
    return True


cdef dict _worker_ids_parse(const char* ids, size_t ids_length):
    data = _json.loads(PyBytes_FromStringAndSize(ids, ids_length))
    return {"errors": data["errors"],
            "metrics": {name: (kind, tuple(labels), mid)
                        for name, kind, labels, mid in data["metrics"]}}


cdef int _worker_ids_use(FilterConfig fc, dict ids) except -1:
    if ids["errors"] is not None:
        fc.error_counter = ids["errors"]
        fc.has_error_counter = True
    return 0


cdef size_t _worker_metric_id(FilterConfig fc, _Metric m, dict ids) except? 0:
    """The id the check load defined for `m` (the same class, loaded in another interpreter)."""
    found = ids["metrics"].get(m.name)
    if found is None or found[0] != m.kind or found[1] != tuple(m.labels):
        raise FilterConfigError(
            f"envoy-pyext: {fc.name}: interpreter 'per_worker': {m!r} was not defined when the "
            f"configuration loaded (Envoy defines metrics once, on its main thread): declare "
            f"the same metrics on the Filter class in every interpreter")
    return found[2]
