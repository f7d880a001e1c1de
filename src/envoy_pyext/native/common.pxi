# envoy-pyext: Apache-2.0
#
# Shared declarations: cimports, exceptions, process-wide statistics, logging.

from cpython.buffer cimport (
    PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.contextvars cimport PyContext_Copy
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memchr, memcmp, memcpy

from envoy_pyext.includes cimport abi
from envoy_pyext.includes.shim cimport (
    PYEXT_BUSY_PENDING, PYEXT_BUSY_ROUTE_ALL, PYEXT_EV_DESTROY, PYEXT_EV_LOCAL_REPLY,
    PYEXT_EV_REQUEST_BODY,
    PYEXT_EV_REQUEST_HEADERS, PYEXT_EV_REQUEST_TRAILERS, PYEXT_EV_RESPONSE_BODY,
    PYEXT_EV_RESPONSE_HEADERS, PYEXT_EV_RESPONSE_TRAILERS, PYEXT_EV_STREAM_COMPLETE)

import enum as _enum
import threading as _threading
import logging as _logging
import sys as _sys
import traceback as _traceback


cdef extern from *:
    """
    /* CPython's contextvars.Context and its mapping (internal: pycore_context.h, pycore_hamt.h),
       laid out the same in 3.11, 3.12 and 3.13. */
    typedef struct {
        PyObject_HEAD
        void* h_root;
        PyObject* h_weakreflist;
        Py_ssize_t h_count;
    } pyext_hamt;
    typedef struct {
        PyObject_HEAD
        PyObject* ctx_prev;
        pyext_hamt* ctx_vars;
        PyObject* ctx_weakreflist;
        int ctx_entered;
    } pyext_context;

    /* len(ctx), without the call through the mapping protocol. */
    static inline Py_ssize_t pyext_context_len(PyObject* ctx) {
        return ((pyext_context*)ctx)->ctx_vars->h_count;
    }

    static inline int pyext_context_entered(PyObject* ctx) {
        return ((pyext_context*)ctx)->ctx_entered;
    }

    /* PyContext_Enter/Exit as 3.11 and 3.12 do them, inline (3.13 also notifies context
       watchers: the API). Anything unusual goes to the API, which raises. */
    static inline int pyext_context_enter(PyObject* octx) {
    #if PY_VERSION_HEX < 0x030D0000
        pyext_context* ctx = (pyext_context*)octx;
        PyThreadState* ts = PyThreadState_GET();
        if (!ctx->ctx_entered) {
            ctx->ctx_prev = ts->context;    /* (borrowed, as CPython does) */
            ctx->ctx_entered = 1;
            Py_INCREF(octx);
            ts->context = octx;
            ts->context_ver++;
            return 0;
        }
    #endif
        return PyContext_Enter(octx);
    }

    static inline int pyext_context_exit(PyObject* octx) {
    #if PY_VERSION_HEX < 0x030D0000
        pyext_context* ctx = (pyext_context*)octx;
        PyThreadState* ts = PyThreadState_GET();
        if (ctx->ctx_entered && ts->context == octx) {
            ts->context = ctx->ctx_prev;
            ts->context_ver++;
            ctx->ctx_prev = NULL;
            ctx->ctx_entered = 0;
            Py_DECREF(octx);
            return 0;
        }
    #endif
        return PyContext_Exit(octx);
    }
    """
    Py_ssize_t pyext_context_len(object ctx) noexcept
    bint pyext_context_entered(object ctx) noexcept
    int pyext_context_enter(object ctx) except -1
    int pyext_context_exit(object ctx) except -1


### Errors ###

class EnvoyPyextError(Exception):
    """Base class of every exception envoy-pyext raises."""


class StreamDestroyedError(EnvoyPyextError):
    """The stream this object belongs to is gone (Envoy destroyed it); nothing was touched."""


class WrongThreadError(EnvoyPyextError):
    """Envoy memory was touched from a thread that is not the stream's Envoy worker thread."""


class FilterConfigError(EnvoyPyextError):
    """A filter configuration cannot be loaded; Envoy rejects the configuration."""


# Envoy log levels (the ABI's names, shorter).
cdef enum:
    LL_TRACE = abi.envoy_dynamic_module_type_log_level_Trace
    LL_DEBUG = abi.envoy_dynamic_module_type_log_level_Debug
    LL_INFO = abi.envoy_dynamic_module_type_log_level_Info
    LL_WARN = abi.envoy_dynamic_module_type_log_level_Warn
    LL_ERROR = abi.envoy_dynamic_module_type_log_level_Error
    LL_CRITICAL = abi.envoy_dynamic_module_type_log_level_Critical
    LL_OFF = abi.envoy_dynamic_module_type_log_level_Off


class InvalidStatusError(EnvoyPyextError, TypeError):
    """A hook returned something other than a Status or None (answered like an exception)."""


import os as _os

# ENVOY_PYEXT_DEBUG=1 logs every state transition of every stream at debug level.
cdef bint _debug = _os.environ.get("ENVOY_PYEXT_DEBUG", "") not in ("", "0")

FEATURES = frozenset({"async", "threads", "tasks", "contextvars", "http_call"})  # this build


### Process-wide statistics (read with envoy_pyext.stats()) ###

cdef struct _Stats:
    long live_filters     # Filter instances not yet freed
    long live_streams     # streams with a Python Filter that Envoy has not destroyed yet
    long filters_created
    long errors           # exceptions caught at the boundary
    long escaped_views    # memoryviews of a body still held when their hook returned
    long pending          # streams whose hook is pending right now (async or RUNNING)
    long pending_peak     # the most that were pending at the same moment
    long live_callouts    # calls through Envoy clusters in flight
    long live_configs     # FilterConfig objects not yet freed (configs and versions in use)
    long hook_tasks       # asyncio Tasks made for hook coroutines (firststep.pxi: carriers)
    long streams_reused   # streams that took a recycled _Stream and Filter (reuse.pxi)

cdef _Stats _stats


def stats():
    """Process-wide counters of the runtime (this Envoy process), as a dict."""
    return {
        "live_filters": _stats.live_filters,
        "live_streams": _stats.live_streams,
        "filters_created": _stats.filters_created,
        "errors": _stats.errors,
        "escaped_views": _stats.escaped_views,
        "pending": _stats.pending,
        "pending_peak": _stats.pending_peak,
        "live_callouts": _stats.live_callouts,
        "live_configs": _stats.live_configs,
        "hook_tasks": _stats.hook_tasks,
        "streams_reused": _stats.streams_reused,
        **_code_stats(),
    }


def reset_pending_peak():
    """Starts a new measurement of stats()['pending_peak']."""
    _stats.pending_peak = _stats.pending


def in_envoy():
    """True inside an Envoy process (the callbacks resolved), False in a plain interpreter."""
    return _in_envoy()


cdef inline bint _in_envoy() noexcept:
    return <void*>abi.envoy_dynamic_module_callback_log_v2 != NULL


### Logging into Envoy's log ###

cdef void _log_bytes(int level, bytes message, bytes source_file, uint32_t line) noexcept:
    cdef abi.envoy_dynamic_module_type_module_buffer msg, src
    if not _in_envoy():
        _sys.stderr.write(message.decode("utf-8", "replace") + "\n")
        return
    msg.ptr = PyBytes_AS_STRING(message)
    msg.length = PyBytes_GET_SIZE(message)
    src.ptr = PyBytes_AS_STRING(source_file)
    src.length = PyBytes_GET_SIZE(source_file)
    abi.envoy_dynamic_module_callback_log_v2(
        <abi.envoy_dynamic_module_type_log_level>level, msg, src, line)


cdef int _log(int level, str message, str source_file="envoy_pyext", uint32_t line=0) except -1:
    _log_bytes(level, message.encode("utf-8", "replace"),
               source_file.encode("utf-8", "replace"), line)
    return 0


cdef int _envoy_level(object level) except -1:
    """Maps a Python logging level (int) or a name ('info', 'WARNING', ...) to Envoy's."""
    if isinstance(level, str):
        name = (<str>level).lower()
        if name in ("trace",):
            return LL_TRACE
        if name in ("debug",):
            return LL_DEBUG
        if name in ("info",):
            return LL_INFO
        if name in ("warn", "warning"):
            return LL_WARN
        if name in ("error",):
            return LL_ERROR
        if name in ("critical", "fatal"):
            return LL_CRITICAL
        raise ValueError(f"unknown log level {level!r}")
    cdef int n = level
    if n < 10:
        return LL_TRACE
    if n < 20:
        return LL_DEBUG
    if n < 30:
        return LL_INFO
    if n < 40:
        return LL_WARN
    if n < 50:
        return LL_ERROR
    return LL_CRITICAL


class EnvoyLogHandler(_logging.Handler):
    """Sends records of Python's ``logging`` module to Envoy's log (component dynamic_modules)."""

    def emit(self, record):
        try:
            _log(_envoy_level(record.levelno), self.format(record),
                 record.pathname or "python", record.lineno or 0)
        except Exception:
            self.handleError(record)


cdef int _python_level_of_envoy() except -1:
    cdef int lvl = abi.envoy_dynamic_module_callback_get_log_level()
    return (5, 10, 20, 30, 40, 50, 60)[lvl] if LL_TRACE <= lvl <= LL_OFF else 20
