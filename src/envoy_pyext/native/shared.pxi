# envoy-pyext: Apache-2.0
#
# envoy_pyext.shared (src/envoy_pyext/shared.py is its API): one key/value store with atomic
# counters for the whole Envoy process, in C++ memory (cpp/shared.cc), so that every
# interpreter sees the same entries: the shared one and each worker's own with
# `interpreter: per_worker`. Keys are str, values bytes; no Python object is kept. The runtime
# keeps its own process-wide data in other spaces of the same stores (_space_*: runtime.pxi's
# values, routeconfig.pxi's live per-route configs), invisible here.

from libc.stdint cimport int64_t

cdef extern from "pyext_shared.h":
    ctypedef struct pyext_shared_ops:
        int (*get)(const char* key, size_t key_len, char** out, size_t* out_len) noexcept
        int (*set)(const char* key, size_t key_len, const char* value, size_t value_len,
                   int expected_state, const char* expected, size_t expected_len) noexcept
        int (*erase)(const char* key, size_t key_len) noexcept
        int64_t (*add)(const char* key, size_t key_len, int64_t delta, int* ok) noexcept
        int (*keys)(int counters, char** out, size_t* out_len) noexcept
        void (*clear)() noexcept
        const pyext_shared_ops* (*space)(int which) noexcept
    const pyext_shared_ops* pyext_shared() noexcept
    enum:
        PYEXT_SPACE_SHARED
        PYEXT_SPACE_RUNTIME
        PYEXT_SPACE_ROUTE_CONFIGS

_SHARED_ANY = object()   # _shared_set: no condition


cdef bytes _shared_key(object key):
    if not isinstance(key, str) or not key:
        raise TypeError(f"a shared key is a non-empty str, not {key!r}")
    return (<str>key).encode("utf-8", "surrogateescape")


cdef bytes _shared_value(object value, str what):
    if isinstance(value, str):
        return (<str>value).encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a shared {what} is bytes or str, not {type(value).__name__}")


cdef inline const pyext_shared_ops* _space(int which) noexcept:
    return pyext_shared() if which == PYEXT_SPACE_SHARED else pyext_shared().space(which)


cdef object _space_get(int which, bytes k):
    """The value under `k` in space `which` (bytes), or None."""
    cdef char* out = NULL
    cdef size_t n = 0
    cdef int r = _space(which).get(k, len(k), &out, &n)
    if r < 0:
        raise MemoryError()
    if r == 0:
        return None
    try:
        return PyBytes_FromStringAndSize(out, n)
    finally:
        free(out)


cdef bint _space_set(int which, bytes k, bytes v, int state=-1, bytes e=b"") except -1:
    """Stores `v` under `k` (state: as pyext_shared_ops.set); True when stored."""
    cdef int r = _space(which).set(k, len(k), v, len(v), state, e, len(e))
    if r < 0:
        raise MemoryError()
    return r == 1


cdef bint _space_erase(int which, bytes k) except -1:
    return _space(which).erase(k, len(k)) == 1


cdef list _space_keys(int which, bint counters=False):
    """The keys (bytes) of space `which`'s values (or counters), sorted."""
    cdef char* out = NULL
    cdef size_t n = 0
    if _space(which).keys(counters, &out, &n) < 0:
        raise MemoryError()
    try:
        raw = PyBytes_FromStringAndSize(out, n)
    finally:
        free(out)
    parts = raw.split(b"\0")
    parts.pop()     # after the last NUL
    return parts


def _shared_get(key):
    """The value stored under ``key`` (bytes), or None."""
    return _space_get(PYEXT_SPACE_SHARED, _shared_key(key))


def _shared_set(key, value, expected=_SHARED_ANY):
    """Stores ``value``; with ``expected``: only if the current value is that (None: unset).
    True when stored."""
    cdef bytes k = _shared_key(key)
    cdef bytes v = _shared_value(value, "value")
    cdef bytes e = b""
    cdef int state = -1
    if expected is not _SHARED_ANY:
        if expected is None:
            state = 0
        else:
            e = _shared_value(expected, "expected value")
            state = 1
    return _space_set(PYEXT_SPACE_SHARED, k, v, state, e)


def _shared_delete(key):
    """Removes ``key``'s value; True when it was set."""
    return _space_erase(PYEXT_SPACE_SHARED, _shared_key(key))


def _shared_add(key, int64_t delta):
    """Adds ``delta`` to the counter ``key`` (0 when new), atomically; the new value."""
    cdef bytes k = _shared_key(key)
    cdef int ok = 0
    cdef int64_t v = pyext_shared().add(k, len(k), delta, &ok)
    if not ok:
        raise MemoryError()
    return v


def _shared_keys(bint counters):
    """The keys of the values (or of the counters), sorted."""
    return [part.decode("utf-8", "surrogateescape")
            for part in _space_keys(PYEXT_SPACE_SHARED, counters)]


def _shared_clear():
    """Removes every value and counter (tests)."""
    pyext_shared().clear()
