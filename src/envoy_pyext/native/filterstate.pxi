# envoy-pyext: Apache-2.0
#
# FilterState (self.filter_state): Envoy's filter state for the stream.
#   - set(key, value, life_span) stores bytes (a str is UTF-8 encoded) as a string accessor:
#     Envoy's other filters and the access log (%FILTER_STATE(key:PLAIN)%) read it; get/in read;
#   - set_object(key, obj) hands any Python object to Envoy, which keeps it for the life span
#     and destroys it on the worker; get_object borrows it back (another Python filter of the
#     same stream, or of the same connection with life_span="connection").
# An object travels in a small C box (_FsBox) with a tag, so that get_object never mistakes
# another module's object for a Python one, and with its owner: the interpreter that stored it
# (cpp/include/pyext_fsobj.h). With `interpreter: per_worker` each worker's filters run in
# that worker's own interpreter, and a stream (and its connection) stays on one worker, so
# per_worker filters of one chain share their objects; a filter of another interpreter (the
# shared one) finds the entry but gets EnvoyPyextError from get_object, never the object.
# Envoy calls the box's destructor exactly once, on the worker, with any interpreter's GIL or
# none held: pyext_fs_drop drops the reference in the owner, with its GIL.

cdef extern from "pyext_fsobj.h":
    ctypedef struct pyext_fs_owner:
        pass
    void pyext_fs_claim(pyext_fs_owner* o) noexcept
    int pyext_fs_mine(const pyext_fs_owner* o) noexcept
    void pyext_fs_drop(PyObject* obj, const pyext_fs_owner* o) noexcept nogil

cdef dict _LIFE_SPANS = {"filter_chain": 0, "request": 1, "connection": 2}
ctypedef abi.envoy_dynamic_module_type_filter_state_life_span _LifeSpan

cdef enum:
    _FS_MAGIC = 0x50594558  # "PYEX"

cdef struct _FsBox:
    uint32_t magic
    PyObject* obj
    pyext_fs_owner owner


cdef void _fs_box_destroy(void* p) noexcept nogil:
    cdef _FsBox* box = <_FsBox*>p
    if box == NULL:
        return
    box.magic = 0
    if box.obj != NULL:
        # In the owner, with its GIL; may run the object's __del__ (exceptions printed there).
        pyext_fs_drop(box.obj, &box.owner)
        box.obj = NULL
    free(box)


cdef int _life_span_of(object life_span) except -1:
    s = _LIFE_SPANS.get(life_span)
    if s is None:
        raise ValueError(f"unknown life_span {life_span!r}: one of {', '.join(_LIFE_SPANS)}")
    return s


cdef bytes _fs_key(object key):
    if not isinstance(key, str) or not key:
        raise TypeError(f"a filter state key is a non-empty str, not {key!r}")
    return (<str>key).encode("utf-8", "surrogateescape")


def _fs_write(_Stream st, bytes key, bytes value, int span):
    if not abi.envoy_dynamic_module_callback_http_set_filter_state_value(
            st._s.envoy_ptr, _mbuf(key), _mbuf(value), <_LifeSpan>span, 0):
        raise EnvoyPyextError(f"Envoy refused to set filter state {key.decode()!r} (an "
                              f"existing read-only entry, or one of another life span)")


def _fs_write_object(_Stream st, bytes key, object obj, int span):
    cdef _FsBox* box = <_FsBox*>malloc(sizeof(_FsBox))
    if box == NULL:
        raise MemoryError()
    box.magic = _FS_MAGIC
    box.obj = <PyObject*>obj
    pyext_fs_claim(&box.owner)
    Py_INCREF(obj)
    # OWNERSHIP: Envoy owns the box from here on, also when it refuses it (it calls the
    # destructor then too).
    if not abi.envoy_dynamic_module_callback_http_set_filter_state_object(
            st._s.envoy_ptr, _mbuf(key), box, _fs_box_destroy, <_LifeSpan>span):
        raise EnvoyPyextError(f"Envoy refused to set filter state object {key.decode()!r} (an "
                              f"existing read-only entry, or one of another life span)")


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class FilterState:
    """Envoy's filter state for the stream: ``self.filter_state``. Reads on the Envoy worker;
    writes also from a pending hook (applied when it resumes)."""

    @staticmethod
    cdef FilterState new(_Stream st):
        cdef FilterState fs = FilterState.__new__(FilterState)
        fs._st = st
        return fs

    def set(self, key, value, life_span="request"):
        """Stores ``value`` (bytes-like, or str as UTF-8) under ``key``, readable by Envoy's
        other filters and the access log (%FILTER_STATE(key:PLAIN)%). ``life_span``:
        "filter_chain", "request" (survives an internal redirect) or "connection"."""
        cdef bytes k = _fs_key(key)
        cdef int span = _life_span_of(life_span)
        cdef bytes v
        if isinstance(value, str):
            v = (<str>value).encode("utf-8", "surrogateescape")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            v = bytes(value)
        else:
            raise TypeError(f"filter state values are bytes or str, not {type(value).__name__} "
                            f"(use set_object for other Python objects)")
        sh = _access(self._st)
        if sh is None:
            _fs_write(self._st, k, v, span)
        else:
            (<_Shadow>sh).later.append((_fs_write, (k, v, span)))

    def get(self, key, default=None):
        """The bytes stored under ``key`` (by set, or by another filter), or ``default``."""
        cdef bytes k = _fs_key(key)
        cdef abi.envoy_dynamic_module_type_envoy_buffer out
        cdef void* ep = _ctx_ptr(self._st, "self.filter_state")
        out.ptr = NULL
        out.length = 0
        if not abi.envoy_dynamic_module_callback_http_get_filter_state_bytes(
                ep, _mbuf(k), &out):
            return default
        return PyBytes_FromStringAndSize(out.ptr, out.length) if out.ptr != NULL else b""

    def __contains__(self, key):
        cdef bytes k = _fs_key(key)
        return abi.envoy_dynamic_module_callback_http_has_filter_state(
            _ctx_ptr(self._st, "self.filter_state"), _mbuf(k))

    def set_object(self, key, obj, life_span="request"):
        """Hands ``obj`` (any Python object) to Envoy under ``key`` for ``life_span``; another
        Python filter of the same stream (or connection) and of the same interpreter gets it
        with get_object. Envoy drops the reference when the stream (or connection) ends."""
        cdef bytes k = _fs_key(key)
        cdef int span = _life_span_of(life_span)
        sh = _access(self._st)
        if sh is None:
            _fs_write_object(self._st, k, obj, span)
        else:
            (<_Shadow>sh).later.append((_fs_write_object, (k, obj, span)))

    def get_object(self, key, default=None):
        """The Python object stored under ``key`` by set_object, or ``default``. Raises
        EnvoyPyextError for an object another interpreter stored (``interpreter:``)."""
        cdef bytes k = _fs_key(key)
        cdef _FsBox* box = <_FsBox*>abi.envoy_dynamic_module_callback_http_get_filter_state_object(
            _ctx_ptr(self._st, "self.filter_state"), _mbuf(k))
        if box == NULL or box.magic != _FS_MAGIC or box.obj == NULL:
            return default
        if not pyext_fs_mine(&box.owner):
            raise EnvoyPyextError(
                f"filter state object {key!r} was stored by a filter of another interpreter "
                f"(interpreter: shared / per_worker): a Python object cannot cross "
                f"interpreters; exchange bytes with filter_state.set()/get() instead (see "
                f"docs/api.md \"Interpreters\")")
        return <object>box.obj

    def __repr__(self):
        return "<FilterState>"
