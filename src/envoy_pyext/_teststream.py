# envoy-pyext: Apache-2.0
"""The in-memory stream behind envoy_pyext.testing.FilterTester (private).

A pure-Python model of what the runtime does for one HTTP stream inside Envoy, written as a
line-by-line mirror of the Cython core, so that a filter behaves the same under FilterTester as
in Envoy:

- the views (HeaderMap, Buffer, Callbacks) are subclasses of the runtime's classes that keep
  headers and bodies in memory, with the runtime's validation and error messages
  (native/headers.pxi, buffer.pxi, callbacks.pxi);
- the phase machine (native/phase.pxi, events.pxi: _outcome, _release, _account,
  _check_body_write) decides what each status means, which writes are allowed, and fixes
  content-length, exactly as the runtime does; the phase table itself is read from the
  compiled core;
- the error barrier (native/dispatch.pxi: _dispatch, _fail) answers fail-closed (500, or a
  reset once the response headers went out) or goes on with fail_open;
- async hooks run as asyncio Tasks on the runtime's own event loop (envoy_pyext.event_loop()),
  in the stream's contextvars context, and RUNNING waits for continue_request() & co from any
  thread. The tester waits for pending work before it delivers the next event: Envoy would
  hold those events meanwhile and hand them over afterwards in the same order, so the outcome
  is the same.

Around the filter, a small model of Envoy's filter manager moves what the filter lets go on to
the next stage (the upstream for the request, the client for the response), holds headers and
buffers bodies when the filter stops, and sends local replies.

The user's Filter is the real class: envoy_pyext._native._bind_test_stream makes its properties
(config, callbacks, request_headers, ...) and http_call use a TestStream.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import _native
from ._native import (
    Buffer,
    Callbacks,
    ClusterNotFoundError,
    EnvoyPyextError,
    HeaderMap,
    HttpResponse,
    InvalidStatusError,
    ResponseTooLargeError,
    Status,
    StreamDestroyedError,
    WrongThreadError,
)
from ._tb import format_exception

log = logging.getLogger("envoy_pyext")

# ---- constants (the runtime's names) -------------------------------------------------------

REQUEST, RESPONSE, NONE = 0, 1, 2
HEADERS, DATA, TRAILERS = 0, 1, 2
HT_REQUEST_HEADERS, HT_REQUEST_TRAILERS, HT_RESPONSE_HEADERS, HT_RESPONSE_TRAILERS = 0, 1, 2, 3
_HEADER_MAP_NAMES = ("request headers", "request trailers", "response headers",
                     "response trailers")
HOOK_NAMES = (("decode_headers", "decode_data", "decode_trailers"),
              ("encode_headers", "encode_data", "encode_trailers"))
SIDE_NAMES = ("request", "response", "stream")

PHASES = ("WAIT", "STREAMING", "STOPPED", "BUFFERING", "PENDING", "DONE", "CLOSED")
P_WAIT, P_STREAMING, P_STOPPED, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED = range(7)
_LEGAL = {PHASES.index(a): {PHASES.index(b) for b in bs}
          for a, bs in getattr(_native, "_phase_table")().items()}

S_CONTINUE, S_STOP_AND_BUFFER, S_STOP_AND_BUFFER_WATERMARK, S_STOP_NO_BUFFER = 0, 1, 2, 3
S_LOCAL_REPLY, S_RUNNING, S_PENDING = 4, 5, 100

# Envoy's statuses, by name (the filter-manager model below acts on them).
CONTINUE, STOP, STOP_BUFFER, STOP_WATERMARK, STOP_NO_BUFFER = (
    "Continue", "StopIteration", "StopIterationAndBuffer", "StopIterationAndWatermark",
    "StopIterationNoBuffer")


def _stop_status(kind: int) -> str:
    return STOP_NO_BUFFER if kind == DATA else STOP


def _htype_of(side: int, kind: int) -> int:
    if kind == TRAILERS:
        return HT_REQUEST_TRAILERS if side == REQUEST else HT_RESPONSE_TRAILERS
    return HT_REQUEST_HEADERS if side == REQUEST else HT_RESPONSE_HEADERS


# ---- validation: the runtime's rules and messages (native/headerfields.pxi, buffer.pxi) ----

def header_name(name: object) -> bytes:
    """A header name validated (an HTTP token, or ':' + token) and lower-cased: the runtime's
    own check (native/headerfields.pxi)."""
    return _native._checked_header_name(name)  # type: ignore[attr-defined,no-any-return]


def header_value(value: object) -> bytes:
    """A header value as validated bytes (str, bytes-like or int; no control character but
    tab): the runtime's own check (native/headerfields.pxi)."""
    return _native._checked_header_value(value)  # type: ignore[attr-defined,no-any-return]


def lookup_key(name: object) -> bytes | None:
    """The lower-cased key of a name for reads (no validation: an invalid name is absent)."""
    if isinstance(name, str):
        try:
            return name.lower().encode("ascii")
        except UnicodeEncodeError:
            return None
    if isinstance(name, bytes):
        return bytes(name).lower()
    raise TypeError(f"header name must be str or bytes, not {type(name).__name__}")


def as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview, Buffer)):
        return bytes(data)
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]  # any buffer-protocol object
    except TypeError:
        raise TypeError(f"body data must be bytes-like or str, not {type(data).__name__}") \
            from None


def _decode(v: bytes) -> str:
    return v.decode("utf-8", "surrogateescape")


def header_pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    """(name, value) pairs from a dict (or anything with .items()) or an iterable of pairs."""
    if headers is None:
        return []
    return [(header_name(k), header_value(v))
            for k, v in (headers.items() if hasattr(headers, "items") else headers)]


_ENVOY_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "warn": "warning",
                 "warning": "warning", "error": "error", "critical": "critical",
                 "fatal": "critical"}
_PY_LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


def envoy_level(level: object) -> str:
    """The Envoy log level of a logging level or a name (the runtime's _envoy_level)."""
    if isinstance(level, str):
        name = _ENVOY_LEVELS.get(level.lower())
        if name is None:
            raise ValueError(f"unknown log level {level!r}")
        return name
    n = int(level)  # type: ignore[call-overload]
    for bound, name in ((10, "trace"), (20, "debug"), (30, "info"), (40, "warning"),
                        (50, "error")):
        if n < bound:
            return name
    return "critical"


# ---- the views ---------------------------------------------------------------------------

class TestHeaderMap(HeaderMap):
    """A HeaderMap kept in memory (the stream's maps[htype]: [name, value] byte pairs)."""

    __slots__ = ("_stream", "_htype")

    def __init__(self, stream: TestStream, htype: int) -> None:
        self._stream = stream
        self._htype = htype

    def _map(self) -> list[list[bytes]] | None:
        return self._stream.maps[self._htype]

    def _get(self, name: object, raw: bool) -> Any:
        self._stream.access()
        key = lookup_key(name)
        m = self._map()
        if key is None or m is None:
            return None
        for k, v in m:
            if k == key:
                return v if raw else _decode(v)
        return None

    def _write(self, name: object, value: object, add: bool) -> None:
        key = header_name(name)
        val = header_value(value)
        if not val:
            raise ValueError(f"empty value for header {name!r}: Envoy 1.40's dynamic-module "
                             f"ABI cannot store empty header values (use remove() to delete)")
        self._stream.access()
        m = self._map()
        if m is None:
            raise EnvoyPyextError(f"Envoy refused to change {_HEADER_MAP_NAMES[self._htype]} "
                                  f"(the map does not exist in this phase)")
        if not add:  # Envoy's set: every value removed, the new one appended at the end
            m[:] = [kv for kv in m if kv[0] != key]
        m.append([key, val])

    def _remove(self, name: object) -> None:
        key = header_name(name)
        self._stream.access()
        m = self._map()
        if m is not None:
            m[:] = [kv for kv in m if kv[0] != key]

    def _items(self, raw: bool) -> list[Any]:
        self._stream.access()
        m = self._map()
        if not m:
            return []
        if raw:
            return [(k, v) for k, v in m]
        return [(k.decode("latin-1"), _decode(v)) for k, v in m]

    # -- the public API (docs/api.md, HeaderMap) --
    def get(self, name: Any, default: Any = None) -> Any:
        v = self._get(name, False)
        return default if v is None else v

    def get_bytes(self, name: Any, default: Any = None) -> Any:
        v = self._get(name, True)
        return default if v is None else v

    def get_all(self, name: Any) -> list[str]:
        self._stream.access()
        key = lookup_key(name)
        m = self._map()
        if key is None or m is None:
            return []
        return [_decode(v) for k, v in m if k == key]

    def set(self, name: Any, value: Any) -> None:
        self._write(name, value, False)

    def add(self, name: Any, value: Any) -> None:
        self._write(name, value, True)

    def remove(self, name: Any) -> None:
        self._remove(name)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for k, _ in self._items(False)))

    def items(self) -> list[tuple[str, str]]:
        return self._items(False)

    def raw_items(self) -> list[tuple[bytes, bytes]]:
        return self._items(True)

    def __getitem__(self, name: Any) -> str:
        v = self._get(name, False)
        if v is None:
            raise KeyError(name)
        return v  # type: ignore[no-any-return]

    def __setitem__(self, name: Any, value: Any) -> None:
        self._write(name, value, False)

    def __delitem__(self, name: Any) -> None:
        if self._get(name, True) is None:
            raise KeyError(name)
        self._remove(name)

    def __contains__(self, name: object) -> bool:
        return self._get(name, True) is not None

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __repr__(self) -> str:
        if self._stream.destroyed:
            return f"<HeaderMap {_HEADER_MAP_NAMES[self._htype]} (stream destroyed)>"
        return f"<HeaderMap {_HEADER_MAP_NAMES[self._htype]} {self.items()!r}>"


class TestBuffer(Buffer):
    """A Buffer kept in memory: what Envoy buffered for the filter (`buffered`) followed, inside
    the data hook, by the chunk just received (`received`), as in the runtime."""

    __slots__ = ("_stream", "_side", "__weakref__")

    def __init__(self, stream: TestStream, side: int) -> None:
        self._stream = stream
        self._side = side

    def _parts(self) -> list[bytearray]:
        sd = self._stream.sides[self._side]
        if sd.in_hook and sd.received is not None:
            return [sd.buffered, sd.received]
        return [sd.buffered]

    def _size_direct(self) -> int:
        return sum(len(p) for p in self._parts())

    def _read_direct(self) -> bytes:
        return b"".join(bytes(p) for p in self._parts())

    def _drain_direct(self, n: int) -> None:
        for p in self._parts():
            if n <= 0:
                break
            take = min(n, len(p))
            del p[:take]
            n -= take

    def _append_direct(self, data: bytes) -> None:
        self._parts()[-1].extend(data)

    def _set(self, data: bytes) -> None:
        self._stream.access()
        if self._stream.check_body_write(self._side):
            self._stream.check_same_length(self._side, len(data) - self._size_direct())
        self._drain_direct(self._size_direct())
        self._append_direct(data)

    # -- the public API (docs/api.md, Buffer) --
    def __len__(self) -> int:
        self._stream.access()
        return self._size_direct()

    def __bytes__(self) -> bytes:
        self._stream.access()
        return self._read_direct()

    def to_bytes(self) -> bytes:
        self._stream.access()
        return self._read_direct()

    def to_bytearray(self) -> bytearray:
        self._stream.access()
        return bytearray(self._read_direct())

    def set(self, data: Any) -> None:
        self._set(as_bytes(data))

    def append(self, data: Any) -> None:
        b = as_bytes(data)
        self._stream.access()
        if self._stream.check_body_write(self._side):
            self._stream.check_same_length(self._side, len(b))
        self._append_direct(b)

    def prepend(self, data: Any) -> None:
        self._set(as_bytes(data) + self.to_bytes())

    def drain(self, n: int) -> None:
        if not isinstance(n, int):
            raise TypeError(f"an integer is required, not {type(n).__name__}")
        size = len(self)
        n = size if n < 0 or n > size else n
        self._stream.access()
        if self._stream.check_body_write(self._side):
            self._stream.check_same_length(self._side, -n)
        self._drain_direct(n)

    def clear(self) -> None:
        self._set(b"")

    def translate(self, table: Any) -> None:
        if table is not None:
            bytes(256).translate(table)     # the runtime's errors: TypeError, ValueError
        self._edit(lambda p: p.translate(table))

    def upper(self) -> None:
        self._edit(bytearray.upper)

    def lower(self) -> None:
        self._edit(bytearray.lower)

    def _edit(self, fn: Callable[[bytearray], bytearray]) -> None:
        """In place, same length, each part as it is (the runtime edits Envoy's slices)."""
        self._stream.access()
        self._stream.check_body_write(self._side)
        for p in self._parts():
            p[:] = fn(p)

    def __repr__(self) -> str:
        if self._stream.destroyed:
            return "<Buffer (stream destroyed)>"
        return f"<Buffer {SIDE_NAMES[self._side]} {len(self)} bytes>"


class TestCallbacks(Callbacks):
    """self.callbacks of a TestStream (native/callbacks.pxi)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TestStream) -> None:
        self._stream = stream

    def send_local_reply(self, status_code: int, body: Any = b"", headers: Any = None,
                         details: str = "") -> Status:
        if not isinstance(status_code, int):
            raise TypeError(f"an integer is required, not {type(status_code).__name__}")
        if not isinstance(details, str):
            raise TypeError(f"details must be str, not {type(details).__name__}")
        if not 200 <= status_code <= 599:
            raise ValueError(f"invalid status code {status_code}")
        body_b = as_bytes(body)
        pairs = header_pairs(headers)
        details_b = ("_".join(details.split()) or "envoy_pyext_local_reply").encode()
        st = self._stream
        st.access()
        if st.closed:
            raise EnvoyPyextError("the stream was already answered (a local reply or an error)")
        p = st.pend
        if p is None:
            st.send_reply_direct(status_code, pairs, body_b, details_b)
            return Status.LOCAL_REPLY
        if p.reply is not None:
            raise EnvoyPyextError("send_local_reply() was already called for this stream")
        p.reply = (status_code, pairs, body_b, details_b)
        if p.task is None:
            p.complete(False, Status.LOCAL_REPLY)  # a thread answered for the pending hook
        return Status.LOCAL_REPLY

    def _end(self, kind: str, arg: Any) -> None:
        st = self._stream
        st.access()
        if st.closed:
            raise EnvoyPyextError("the stream was already ended (a local reply, a reset, a "
                                  "recreate, a GOAWAY or an error)")
        p = st.pend
        if p is None:
            st.end_stream(kind, arg)
            return
        if p.reply is not None or p.end is not None:
            raise EnvoyPyextError("the stream was already ended by this pending hook")
        p.end = (kind, arg)
        if p.task is None:
            p.complete(False, Status.LOCAL_REPLY)  # a thread ended the stream for the hook

    def reset_stream(self, details: str = "") -> None:
        if not isinstance(details, str):
            raise TypeError(f"details must be str, not {type(details).__name__}")
        self._end("reset", "_".join(details.split()) or "envoy_pyext_reset")

    def recreate_stream(self, headers: Any = None) -> None:
        self._end("recreate", header_pairs(headers))

    def send_go_away_and_close(self, graceful: bool = True) -> None:
        self._end("go_away", bool(graceful))

    def continue_request(self) -> None:
        self._stream.continue_side(REQUEST)

    def continue_response(self) -> None:
        self._stream.continue_side(RESPONSE)

    @property
    def buffer_limit(self) -> int:
        self._stream.worker_only()
        return self._stream.buffer_limit

    @buffer_limit.setter
    def buffer_limit(self, limit: int) -> None:
        if not isinstance(limit, int) or limit < 0:
            raise OverflowError(f"buffer limit must be a non-negative int, not {limit!r}")
        self._stream.worker_only()
        self._stream.buffer_limit = limit

    @property
    def worker_index(self) -> int:
        self._stream.worker_only()
        return self._stream.worker_index

    # -- routing (native/routing.pxi): recorded on the Result --
    def clear_route_cache(self) -> None:
        self._stream.access()
        self._stream.route_cache_clears += 1

    def set_upstream_override_host(self, host: str, strict: bool = False) -> None:
        from ._testcontext import check_override_host

        check_override_host(host)
        st = self._stream
        st.access()
        if st.sides[REQUEST].sent_headers is not None and st.pend is None:
            raise EnvoyPyextError(f"Envoy refused the upstream override host {host!r} (it "
                                  f"works on the request path only)")
        st.override_host = (host, bool(strict))

    def add_response_flag(self, flag: str) -> None:
        from ._testcontext import check_flag

        check_flag(flag)
        self._stream.access()
        self._stream.response_flags.append(flag)

    def log(self, level: str | int, message: object) -> None:
        frame = sys._getframe(1)
        self._stream.log_line(envoy_level(level), str(message), frame.f_code.co_filename,
                              frame.f_lineno)


# ---- the stream --------------------------------------------------------------------------

class _Side:
    """One direction: the runtime's _Side fields, plus the filter manager's (Envoy's) state."""

    def __init__(self) -> None:
        # the runtime (native/stream.pxd _Side)
        self.phase = P_WAIT
        self.headers_out = False
        self.cl_out = False
        self.body_changed = False
        self.delta = 0
        self.trailers = False
        # Envoy: the filter's buffered body, the chunk being delivered, what went on
        self.buffered = bytearray()
        self.received: bytearray | None = None
        self.in_hook = False
        self.sent_headers: list[tuple[bytes, bytes]] | None = None
        self.sent_body = bytearray()
        self.sent_trailers: list[tuple[bytes, bytes]] | None = None
        self.sent_end = False
        self.held_trailers = False
        self.end_arrived = False
        self.overflowed = False  # the body outgrew the buffer limit: Envoy answered


class _Pending:
    """A pending hook: a coroutine running as a Task, or a thread after RUNNING."""

    def __init__(self, side: int, kind: int, task: Any) -> None:
        self.side = side
        self.kind = kind
        self.task = task
        self.reply: tuple[int, list[tuple[bytes, bytes]], bytes, bytes] | None = None
        self.end: tuple[str, Any] | None = None   # reset_stream/recreate_stream/GOAWAY
        self.done = False
        self.error = False
        self.value: Any = None
        self.event = threading.Event()
        # The work left the worker (a thread after RUNNING; a coroutine that waits on a
        # future): reads of Envoy-only state (metadata, filter state) are refused there.
        self.left_worker = task is None

    def complete(self, is_error: bool, value: Any) -> None:
        if self.done:
            return
        self.done = True
        self.error = is_error
        self.value = value
        self.event.set()


class StuckStreamError(AssertionError):
    """A pending hook did not finish in time: in Envoy the stream would hang (until a timeout
    of Envoy's or the client gave up)."""


class HookError:
    """An exception caught at the runtime's boundary (logged, counted, answered)."""

    def __init__(self, hook: str, exception: BaseException, action: str, text: str) -> None:
        self.hook = hook
        self.exception = exception
        self.action = action
        self.traceback = text

    def __repr__(self) -> str:
        return (f"<HookError {self.hook}: {type(self.exception).__name__}: {self.exception} "
                f"({self.action})>")


class LogLine:
    """A line the filter wrote with self.callbacks.log (Envoy's level name, file:line)."""

    def __init__(self, level: str, message: str, file: str, line: int) -> None:
        self.level = level
        self.message = message
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"<LogLine {self.level} {self.file}:{self.line} {self.message!r}>"


class StreamConfig:
    """The tester's FilterConfig: the class, its parsed config and hooks (native/config.pxi)."""

    HOOKS = ("decode_headers", "decode_data", "decode_trailers", "encode_headers",
             "encode_data", "encode_trailers", "on_log", "on_destroy")

    def __init__(self, name: str, cls: type, config: Any) -> None:
        self.name = name
        self.cls = cls
        self.config = config
        self.fail_open = bool(getattr(cls, "fail_open", False))
        self.fn = {h: self._overridden(cls, h) for h in self.HOOKS}
        mro = cls.__mro__
        self.has_init = any("__init__" in k.__dict__ for k in mro[:mro.index(_native.Filter)])

    @staticmethod
    def _overridden(cls: type, name: str) -> Any:
        for klass in cls.__mro__:
            if name in klass.__dict__:
                if klass is _native.Filter:
                    return None
                return getattr(cls, name)
        return None

    def hook_fn(self, side: int, kind: int) -> Any:
        return self.fn[HOOK_NAMES[side][kind]]


class TestStream:
    """One HTTP stream: the user's Filter, its views, the phase machine and Envoy around it."""

    def __init__(self, fc: StreamConfig, *, timeout: float, buffer_limit: int,
                 worker_index: int, callouts: Any, context: Any = None) -> None:
        from ._testcontext import Attributes, Metrics, TestFilterState, TestMetadata, \
            TestStreamInfo, check_metadata

        ctx: dict[str, Any] = dict(context or {})
        self.fc = fc
        self.config = fc.config
        self.timeout = timeout
        self.buffer_limit = buffer_limit
        self.worker_index = worker_index
        self.callouts_fake = callouts
        self.empty_end_chunk = True
        self.tid = threading.get_ident()
        self.cond = threading.Condition(threading.RLock())
        self.maps: list[list[list[bytes]] | None] = [None, None, None, None]
        self.sides = [_Side(), _Side()]
        self.closed = False
        self.ended = False
        self.destroyed = False
        self.hook_depth = 0
        self.run_side = NONE
        self.run_kind = -1
        self.early_status = -1
        self.pend: _Pending | None = None
        self.init_error: BaseException | None = None  # what the Filter's __init__ raised
        self.ctx = contextvars.Context()
        # outcomes
        self.local_reply: tuple[int, list[tuple[bytes, bytes]], bytes, str, str] | None = None
        self.client_reset = False
        self.client_details = ""
        self.recreated: list[tuple[bytes, bytes]] | None = None
        self.go_away: bool | None = None
        self.envoy_response: tuple[int, list[tuple[bytes, bytes]], bytes, str] | None = None
        self.errors: list[HookError] = []
        self.logs: list[LogLine] = []
        # views
        self._views_h = [TestHeaderMap(self, h) for h in range(4)]
        self._views_b = [TestBuffer(self, REQUEST), TestBuffer(self, RESPONSE)]
        self.callbacks = TestCallbacks(self)
        self.filter: Any = None
        # the Envoy context (envoy_pyext/_testcontext.py)
        self.attributes = Attributes(self, ctx.get("properties") or {})
        self.connection_id: int = ctx.get("connection_id", 1)
        self.metadata_store = check_metadata(ctx.get("metadata"))
        self.filter_state_values: dict[str, bytes] = {
            k: (v.encode() if isinstance(v, str) else bytes(v))
            for k, v in (ctx.get("filter_state") or {}).items()}
        self.filter_state_objects: dict[str, Any] = dict(ctx.get("filter_state_objects") or {})
        self.filter_state_spans: dict[str, str] = {}
        self.metrics: Metrics = ctx.get("metrics") or Metrics()
        self.route_config_value: Any = ctx.get("route_config")
        self.route_cache_clears = 0
        self.override_host: tuple[str, bool] | None = None
        self.response_flags: list[str] = []
        self._stream_info = TestStreamInfo(self)
        self._metadata = TestMetadata(self)
        self._filter_state = TestFilterState(self)
        self.span: Any = ctx.get("span")                         # a TestSpan, or None
        self.secrets: tuple[dict[str, Any], dict[str, Any]] = ctx.get("secrets") or ({}, {})

    # -- what the Filter's properties return (_bind_test_stream) --
    @property
    def stream_info(self) -> Any:
        self.alive()
        return self._stream_info

    @property
    def metadata(self) -> Any:
        self.alive()
        return self._metadata

    @property
    def filter_state(self) -> Any:
        self.alive()
        return self._filter_state

    def secret(self, name: str) -> bytes | None:
        from ._testcontext import read_secret
        self.alive()
        return read_secret(*self.secrets, name)

    @property
    def route_config(self) -> Any:
        self.access()
        return self.route_config_value

    def get_property(self, path: Any, default: Any = None) -> Any:
        from ._testcontext import get_property

        self.alive()
        return get_property(self, path, default)

    def bound_metric(self, metric: Any) -> Any:
        from ._testcontext import TestBoundMetric

        return TestBoundMetric(metric, self)

    def off_worker(self) -> bool:
        """A pending hook's work left the worker: Envoy-only reads are refused there."""
        p = self.pend
        return p is not None and p.left_worker

    @property
    def request_headers(self) -> TestHeaderMap:
        self.alive()
        return self._views_h[HT_REQUEST_HEADERS]

    @property
    def response_headers(self) -> TestHeaderMap:
        self.alive()
        return self._views_h[HT_RESPONSE_HEADERS]

    @property
    def request_trailers(self) -> TestHeaderMap:
        self.alive()
        return self._views_h[HT_REQUEST_TRAILERS]

    @property
    def response_trailers(self) -> TestHeaderMap:
        self.alive()
        return self._views_h[HT_RESPONSE_TRAILERS]

    @property
    def request_body(self) -> TestBuffer:
        self.alive()
        return self._views_b[REQUEST]

    @property
    def response_body(self) -> TestBuffer:
        self.alive()
        return self._views_b[RESPONSE]

    def callout_request(self, cluster: Any, method: Any, path: Any, headers: Any, body: Any,
                        timeout: float) -> tuple[str, list[tuple[bytes, bytes]], bytes, float]:
        """The runtime's _new_callout: (cluster, header pairs, body, timeout), checked."""
        if not isinstance(method, str) or not isinstance(path, str):
            raise TypeError("method and path must be str")
        pairs = [(b":method", header_value(method)), (b":path", header_value(path))]
        timeout = float(timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        has_host = False
        for key, value in header_pairs(headers):
            has_host = has_host or key in (b"host", b":authority")
            pairs.append((key, value))
        cluster_b = as_bytes(cluster)
        if not has_host:
            pairs.append((b"host", cluster_b))
        body_b = as_bytes(body)
        if body_b:
            pairs.append((b"content-length", str(len(body_b)).encode()))
        return cluster_b.decode("utf-8", "surrogateescape"), pairs, body_b, timeout

    def http_call(self, cluster: Any, method: str = "GET", path: str = "/", headers: Any = None,
                  body: Any = b"", timeout: float = 5.0,
                  max_response_bytes: int | None = None) -> Any:
        """The runtime's _http_call with the tester's fake clusters (testing.Callouts)."""
        name, pairs, body_b, timeout = self.callout_request(cluster, method, path, headers, body,
                                                            timeout)
        self.access()
        limit = 1 << 20 if max_response_bytes is None else int(max_response_bytes)
        return self._callout(name, pairs, body_b, timeout, limit)

    def http_stream(self, cluster: Any, method: str = "POST", path: str = "/",
                    headers: Any = None, timeout: float = 60.0) -> Any:
        """The runtime's _http_stream with the tester's fake clusters (_testhttpstream.py)."""
        from ._testhttpstream import TestHttpStream
        from .testing import StreamRequest

        name, pairs, _, timeout = self.callout_request(cluster, method, path, headers, b"",
                                                       timeout)
        self.access()
        fake = self.callouts_fake
        request = StreamRequest(name, pairs, b"", timeout)
        fake.calls.append(request)
        return TestHttpStream(self, request, fake.find(request), timeout)

    async def _callout(self, cluster: str, pairs: list[tuple[bytes, bytes]], body: bytes,
                       timeout: float, limit: int) -> HttpResponse:
        fake = self.callouts_fake
        request = fake.request_class(cluster, pairs, body, timeout)
        fake.calls.append(request)
        rule = fake.find(request)
        if rule is None:
            raise ClusterNotFoundError(f"no cluster named {cluster!r} in Envoy")
        timer = asyncio.timeout(timeout)
        try:
            async with timer:
                response = await rule.respond(request)
        except TimeoutError:
            if not timer.expired():
                raise
            raise TimeoutError(f"the call did not complete within {timeout} s") from None
        if len(response.body) > limit:
            raise ResponseTooLargeError(
                f"the response was larger than {limit} bytes (max_response_bytes)")
        return response  # type: ignore[no-any-return]

    # -- access rules (native/stream.pxi _access) --
    def alive(self) -> None:
        if self.destroyed:
            self.access()

    def access(self) -> None:
        with self.cond:
            while True:
                if self.destroyed:
                    raise StreamDestroyedError(
                        "the stream this object belonged to has been destroyed; its headers, "
                        "body and callbacks can no longer be used (copy what you need while "
                        "the hook runs)")
                if self.pend is not None or threading.get_ident() == self.tid:
                    return
                if self.hook_depth > 0:
                    # A thread started by a hook that is still running: wait until it returned.
                    self.cond.wait(60)
                    continue
                if self.ended:
                    raise StreamDestroyedError(
                        "the stream has ended (its response is complete); its headers, body and "
                        "callbacks can no longer be used from other threads")
                raise WrongThreadError(
                    "Envoy memory can only be used on the stream's Envoy worker thread, or "
                    "while one of the stream's hooks is pending (async def, or after returning "
                    "Status.RUNNING)")

    def worker_only(self) -> None:
        self.access()
        if self.pend is not None:
            raise EnvoyPyextError("not available while a hook of this stream is pending")

    # -- logging --
    def log_line(self, level: str, message: str, file: str, line: int) -> None:
        self.logs.append(LogLine(level, message, file, line))
        record = log.makeRecord(log.name, _PY_LEVELS[level], file, line, message, (), None)
        log.handle(record)

    # -- phases (native/phase.pxi) --
    def set_phase(self, side: int, phase: int) -> None:
        old = self.sides[side].phase
        if phase not in _LEGAL[old]:
            raise EnvoyPyextError(f"envoy-pyext internal error: {SIDE_NAMES[side]} phase "
                                  f"{PHASES[old]} -> {PHASES[phase]} is not allowed")
        self.sides[side].phase = phase

    def outcome(self, side: int, kind: int, status: int, eos: bool) -> str:
        complete = eos or kind == TRAILERS
        if self.closed:
            self.set_phase(side, P_CLOSED)
            return _stop_status(kind)
        if status == S_CONTINUE:
            return self.release(side, kind, complete)
        name = HOOK_NAMES[side][kind]
        if status == S_LOCAL_REPLY:
            raise EnvoyPyextError(f"{name} returned Status.LOCAL_REPLY but sent no local reply "
                                  f"(call self.callbacks.send_local_reply(...))")
        if complete and status == S_STOP_NO_BUFFER:
            raise EnvoyPyextError(
                f"{name} returned Status.{Status(status).name} at the end of the "
                f"{SIDE_NAMES[side]}: nothing would ever continue it; return CONTINUE, or "
                f"RUNNING and call continue_{SIDE_NAMES[side]}() when done")
        if complete:
            return self.release(side, kind, True)
        if kind == HEADERS:
            if status == S_STOP_AND_BUFFER or self.fc.hook_fn(side, DATA) is None:
                self.set_phase(side, P_BUFFERING)
            else:
                self.set_phase(side, P_STOPPED)
            return STOP
        if status == S_STOP_AND_BUFFER:
            self.set_phase(side, P_BUFFERING)
            return STOP_BUFFER
        self.set_phase(side, P_STOPPED)
        return STOP_WATERMARK if status == S_STOP_AND_BUFFER_WATERMARK else STOP_NO_BUFFER

    def release(self, side: int, kind: int, complete: bool) -> str:
        sd = self.sides[side]
        if not sd.headers_out:
            sd.headers_out = kind == TRAILERS or not sd.trailers
            if kind != HEADERS or self.fc.hook_fn(side, DATA) is not None:
                h = self._views_h[_htype_of(side, HEADERS)]
                if sd.body_changed and h._get(b"content-length", True) is not None:
                    if complete:
                        h._write(b"content-length", self._views_b[side]._size_direct(), False)
                    else:
                        h._remove(b"content-length")
                sd.cl_out = h._get(b"content-length", True) is not None
                sd.delta = 0
        self.set_phase(side, P_DONE if complete and (kind == TRAILERS or not sd.trailers)
                       else P_STREAMING)
        return CONTINUE

    def check_body_write(self, side: int) -> bool:
        """True where the body's length is fixed: then only a same-length write passes
        (check_same_length)."""
        sd = self.sides[side]
        p = self.pend
        kind, run_side = self.run_kind, self.run_side
        if p is not None:
            kind, run_side = p.kind, p.side
        if run_side == side and kind == DATA:
            return False
        if run_side == side and kind == TRAILERS:
            return sd.cl_out
        if not sd.headers_out and sd.phase in (P_BUFFERING, P_STOPPED):
            return False
        if run_side == side and kind == HEADERS:
            raise EnvoyPyextError(
                f"the {SIDE_NAMES[side]} body has not arrived yet in {HOOK_NAMES[side][HEADERS]}; "
                f"write it in {HOOK_NAMES[side][DATA]} (return Status.STOP_AND_BUFFER from "
                f"{HOOK_NAMES[side][HEADERS]} to get the whole body there)")
        raise EnvoyPyextError(
            f"the {SIDE_NAMES[side]} body cannot be written here (its {SIDE_NAMES[side]} is "
            f"{PHASES[sd.phase]}): write it in {HOOK_NAMES[side][DATA]}")

    @staticmethod
    def check_same_length(side: int, change: int) -> None:
        if change:
            raise EnvoyPyextError(
                f"the {SIDE_NAMES[side]} body cannot {'grow' if change > 0 else 'shrink'} "
                f"({change:+d} bytes) in {HOOK_NAMES[side][TRAILERS]}: its headers already went "
                f"on with content-length (an edit of the same length is fine: upper(), lower(), "
                f"translate(), set() of as many bytes)")

    def close(self) -> None:
        self.closed = True
        self.set_phase(REQUEST, P_CLOSED)
        self.set_phase(RESPONSE, P_CLOSED)

    def account(self, side: int, status: int, change: int, eos: bool) -> None:
        sd = self.sides[side]
        if not (sd.headers_out and sd.cl_out):
            if not sd.headers_out and change:
                sd.body_changed = True
            return
        sd.delta += change
        if self.closed or status != S_CONTINUE:
            return
        if sd.delta > 0 or (eos and sd.delta != 0):
            raise EnvoyPyextError(
                f"{HOOK_NAMES[side][DATA]} changed the {SIDE_NAMES[side]} body's length by "
                f"{sd.delta:+d} bytes after the headers went on with content-length: the peer "
                f"would get a malformed message. Remove content-length in "
                f"{HOOK_NAMES[side][HEADERS]} (the body is then framed by Envoy), or return "
                f"Status.STOP_AND_BUFFER from it to rewrite the whole body")

    # -- events (native/events.pxi) --
    def headers_passed(self, side: int) -> None:
        sd = self.sides[side]
        if sd.phase == P_WAIT:
            sd.headers_out = True
            if self.fc.hook_fn(side, DATA) is not None:
                sd.cl_out = self._views_h[_htype_of(side, HEADERS)]._get(
                    b"content-length", True) is not None
            self.set_phase(side, P_STREAMING)

    def ev_headers(self, side: int, eos: bool) -> str:
        if self.closed:
            return CONTINUE if side == RESPONSE else STOP
        status = S_CONTINUE
        fn = self.fc.hook_fn(side, HEADERS)
        if fn is not None:
            status = self.call_hook(side, HEADERS, fn, self._views_h[_htype_of(side, HEADERS)],
                                    eos)
        return self.outcome(side, HEADERS, status, eos)

    def ev_data(self, side: int, eos: bool) -> str:
        sd = self.sides[side]
        fn = self.fc.hook_fn(side, DATA)
        if self.closed:
            return CONTINUE if side == RESPONSE else STOP_NO_BUFFER
        if sd.phase == P_DONE:
            return CONTINUE
        self.headers_passed(side)
        if sd.phase == P_BUFFERING and not eos:
            return STOP_BUFFER
        if fn is None:
            if sd.phase in (P_BUFFERING, P_STOPPED):
                return self.release(side, DATA, eos)
            self.set_phase(side, P_DONE if eos else P_STREAMING)
            return CONTINUE
        return self.run_data_hook(side, fn, eos, True)

    def ev_trailers(self, side: int) -> str:
        sd = self.sides[side]
        sd.trailers = True
        if self.closed:
            return CONTINUE if side == RESPONSE else STOP
        if sd.phase == P_DONE:
            return CONTINUE
        self.headers_passed(side)
        fn = self.fc.hook_fn(side, DATA)
        if sd.phase == P_BUFFERING and fn is not None:
            env = self.run_data_hook(side, fn, True, False)
            if env != CONTINUE:
                return STOP
        status = S_CONTINUE
        fn = self.fc.hook_fn(side, TRAILERS)
        if fn is not None:
            before = -1 if sd.headers_out else self._views_b[side]._size_direct()
            status = self.call_hook(side, TRAILERS, fn,
                                    self._views_h[_htype_of(side, TRAILERS)], True)
            if before >= 0 and not self.destroyed \
                    and self._views_b[side]._size_direct() != before:
                sd.body_changed = True
        return self.outcome(side, TRAILERS, status, True)

    def run_data_hook(self, side: int, fn: Any, eos: bool, received: bool) -> str:
        sd = self.sides[side]
        buf = self._views_b[side]
        sd.in_hook = received
        try:
            before = buf._size_direct()
            status = self.call_hook(side, DATA, fn, buf, eos)
            after = buf._size_direct()
            self.account(side, status, after - before, eos)
            return self.outcome(side, DATA, status, eos)
        finally:
            sd.in_hook = False

    # -- calling hooks: sync, coroutines (Tasks on the runtime's loop), RUNNING threads --
    def call_hook(self, side: int, kind: int, fn: Any, arg: Any, eos: bool) -> int:
        """Calls a user hook; waits for it when it goes asynchronous. Returns its status."""
        status = self.invoke(side, kind, fn, arg, eos)
        while status == S_PENDING:
            status = self.wait_pending(fn)
        return status

    def invoke(self, side: int, kind: int, fn: Any, arg: Any, eos: bool) -> int:
        with self.cond:
            self.hook_depth += 1
            self.run_side = side
            self.run_kind = kind
            self.early_status = -1
        try:
            if kind == TRAILERS:
                result = self.ctx.run(fn, self.filter, arg)
            else:
                result = self.ctx.run(fn, self.filter, arg, eos)
            if result is not None and type(result) is not Status and _is_awaitable(result):
                self.start_task(side, kind, result)
                return S_PENDING
            status = status_of(result, fn)
            if status == S_RUNNING:
                if self.early_status >= 0:
                    return self.early_status
                self.pend = _Pending(side, kind, None)
                return S_PENDING
            return status
        finally:
            with self.cond:
                self.hook_depth -= 1
                self.run_side = NONE
                self.run_kind = -1
                self.cond.notify_all()

    def start_task(self, side: int, kind: int, awaitable: Any) -> None:
        loop = _native.event_loop()
        coro = awaitable if asyncio.iscoroutine(awaitable) else _await(awaitable)
        p = _Pending(side, kind, True)  # (a coroutine: continue_*() refuses to complete it)
        self.pend = p

        def start() -> None:
            # named after its coroutine, as the runtime names a hook's Task (aio.pxi)
            name = awaitable.__qualname__ if inspect.iscoroutine(awaitable) else None
            task = loop.create_task(coro, context=self.ctx, name=name)
            p.task = task
            task.add_done_callback(lambda t: p.event.set())
            loop.call_soon(_watch, loop, p, task, 0)

        loop.call_soon_threadsafe(start)

    def wait_pending(self, fn: Any) -> int:
        p = self.pend
        assert p is not None
        what = ("a coroutine" if p.task is not None else "Status.RUNNING")
        if not p.event.wait(self.timeout):
            self.abandon()
            hook = HOOK_NAMES[p.side][p.kind]
            if p.task is not None:
                raise StuckStreamError(
                    f"{self.fc.name}.{hook}: its coroutine did not finish within "
                    f"{self.timeout:g} s (FilterTester(timeout=...)); in Envoy the stream would "
                    f"wait for it")
            raise StuckStreamError(
                f"{self.fc.name}.{hook} returned {what} and nothing called "
                f"continue_{SIDE_NAMES[p.side]}() or send_local_reply() within "
                f"{self.timeout:g} s (FilterTester(timeout=...)); in Envoy the stream would "
                f"hang")
        with self.cond:
            self.pend = None
        if p.task is not None and p.task is not True:
            task = p.task
            if task.cancelled():
                p.error, p.value = True, asyncio.CancelledError("the hook's task was cancelled")
            elif task.exception() is not None:
                p.error, p.value = True, task.exception()
            else:
                p.error, p.value = False, task.result()
        if p.reply is not None:
            status_code, pairs, body, details = p.reply
            self.send_reply_direct(status_code, pairs, body, details)
        if p.end is not None and not p.error:
            try:
                self.end_stream(*p.end, pending=True)
            except EnvoyPyextError as e:   # a refused recreate: answered 500, as in Envoy
                p.error, p.value = True, e
        if p.error:
            exc, p.value = p.value, None
            try:
                raise exc
            finally:  # no reference cycle through this frame (exc -> traceback -> frame)
                exc = p = task = None
        status = status_of(p.value, fn)
        if status == S_RUNNING:  # a coroutine handed the rest to a thread
            self.pend = _Pending(p.side, p.kind, None)
            return S_PENDING
        return status

    def abandon(self) -> None:
        """Cancels pending work (the stream goes away)."""
        p = self.pend
        with self.cond:
            self.pend = None
        if p is not None:
            p.done = True
            task = p.task
            if task is not None and task is not True and not task.done():
                # The coroutine sees CancelledError (as in Envoy); wait a little for it to
                # finish, so that nothing of the stream runs after request() returned.
                p.event.clear()
                _native.event_loop().call_soon_threadsafe(task.cancel)
                p.event.wait(min(self.timeout, 2.0))

    def continue_side(self, side: int) -> None:
        self.access()
        p = self.pend
        name = SIDE_NAMES[side]
        if p is not None and p.side == side:
            if p.task is not None:
                raise EnvoyPyextError(f"the {name} waits for a coroutine: return from it instead")
            if p.done:
                raise EnvoyPyextError(f"the {name} was already continued")
            p.complete(False, Status.CONTINUE)
        elif p is None and self.hook_depth > 0 and self.run_side == side \
                and threading.get_ident() == self.tid:
            self.early_status = S_CONTINUE
        else:
            raise EnvoyPyextError(f"the {name} is not waiting to be continued (continue_{name}() "
                                  f"resumes a hook that returned Status.RUNNING)")

    # -- the error barrier (native/dispatch.pxi) --
    def dispatch(self, side: int, kind: int, eos: bool) -> str:
        try:
            self.raise_init_error()
            if kind == HEADERS:
                return self.ev_headers(side, eos)
            if kind == DATA:
                return self.ev_data(side, eos)
            return self.ev_trailers(side)
        except StuckStreamError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001  (the runtime's barrier catches everything)
            if self.fail(side, HOOK_NAMES[side][kind], e):
                return _stop_status(kind)
            try:
                return self.outcome(side, kind, S_CONTINUE, eos or kind == TRAILERS)
            except BaseException:  # noqa: BLE001
                return CONTINUE

    def raise_init_error(self) -> None:
        """The Filter's __init__ raised: the stream's first event raises it (dispatch.pxi)."""
        error, self.init_error = self.init_error, None
        if error is not None:
            try:
                raise error
            finally:
                error = None

    def fail(self, side: int, hook: str, exc: BaseException) -> bool:
        """_fail: logs and counts; True when the stream stops (500 or reset)."""
        reset = side == RESPONSE and self.sides[RESPONSE].headers_out
        if side == NONE:
            action = "logged only"
        elif self.fc.fail_open:
            action = "continuing (fail_open)"
        else:
            action = "resetting the stream" if reset else "answering 500"
        text = format_exception(exc)
        self.errors.append(HookError(hook, exc, action, text))
        log.error("envoy-pyext: %s.%s raised; %s:\n%s", self.fc.name, hook, action, text)
        if side == NONE or self.destroyed or self.fc.fail_open:
            return False
        if self.closed:
            return True
        self.close()
        if reset:
            self.reset("envoy_pyext_filter_error")
            return True
        self.envoy_reply(500, [(b"content-type", b"text/plain")], b"Internal Server Error\n",
                         "envoy_pyext_filter_error", "error")
        return True

    def send_reply_direct(self, status: int, pairs: list[tuple[bytes, bytes]], body: bytes,
                          details: bytes) -> None:
        self.close()
        self.envoy_reply(status, pairs, body, details.decode(), "filter")

    # -- Envoy around the filter: the filter manager, local replies, resets --
    def envoy_reply(self, status: int, pairs: list[tuple[bytes, bytes]], body: bytes,
                    details: str, by: str) -> None:
        """Envoy's send_response: the client gets the reply, unless the response headers
        already went out (then Envoy resets the stream)."""
        if self.sides[RESPONSE].sent_headers is not None:
            self.reset(details)
            return
        headers = [(b":status", str(status).encode())]
        headers += pairs
        names = {k for k, _ in pairs}
        if body:
            if b"content-type" not in names:
                headers.append((b"content-type", b"text/plain"))
        headers.append((b"content-length", str(len(body)).encode()))
        self.local_reply = (status, headers, body, details, by)
        self.attributes.response_bytes = len(body)
        self.client_details = details

    def buffer_overflow(self, side: int) -> None:
        """Envoy's answer when a body buffered with StopIterationAndBuffer outgrows the buffer
        limit: the request gets 413 (a reply that passes the filter's encode hooks), the
        response 500 (sent to the client directly)."""
        self.sides[side].overflowed = True
        if side == REQUEST:
            self.envoy_response = (413, [(b"content-length", b"17"),
                                         (b"content-type", b"text/plain")],
                                   b"Payload Too Large", "request_payload_too_large")
        else:
            self.envoy_reply(500, [(b"content-type", b"text/plain")], b"Internal Server Error",
                             "response_payload_too_large", "envoy")

    def reset(self, details: str) -> None:
        self.client_reset = True
        self.client_details = details

    def end_stream(self, kind: str, arg: Any, pending: bool = False) -> None:
        """callbacks.reset_stream / recreate_stream / send_go_away_and_close applied (on the
        worker), as native/streamctl.pxi: the stream ends for the filter. Envoy recreates a
        request only once it holds all of it: from a pending hook it does (the client sent the
        whole request, which Envoy buffered meanwhile), in the hook of the request headers of a
        request with a body it does not."""
        if kind == "recreate":
            if not (pending or self.sides[REQUEST].end_arrived):
                raise EnvoyPyextError(
                    "Envoy refused to recreate the stream: it recreates a request only once the "
                    "whole request arrived (request_headers with end_stream, a later request "
                    "hook, or a response hook)")
            self.close()
            self.recreated = arg      # FilterTester records it; it does not run the new stream
            return
        self.close()
        if kind == "go_away":
            self.go_away = arg
            self.reset("envoy_pyext_go_away")
        else:
            self.reset(arg)

    def flush(self, side: int) -> None:
        """Envoy lets held headers and buffered data go on to the next stage."""
        sd = self.sides[side]
        if sd.sent_headers is None:
            m = self.maps[_htype_of(side, HEADERS)] or []
            sd.sent_headers = [(k, v) for k, v in m]
        sd.sent_body += sd.buffered
        sd.buffered.clear()

    def envoy_headers(self, side: int, eos: bool) -> None:
        sd = self.sides[side]
        sd.end_arrived = eos
        env = self.dispatch(side, HEADERS, eos)
        if self.closed or self.client_reset:
            return
        if env == CONTINUE:
            self.flush(side)
            sd.sent_end = eos

    def envoy_data(self, side: int, chunk: bytes, eos: bool) -> None:
        sd = self.sides[side]
        sd.end_arrived = eos
        if sd.phase == P_BUFFERING and not self.closed \
                and len(sd.buffered) + len(chunk) > self.buffer_limit:
            # Envoy reads a body in pieces far smaller than its buffer limit: a body the filter
            # buffers outgrows the limit before its end arrives.
            self.buffer_overflow(side)
            return
        sd.received = bytearray(chunk)
        if side == REQUEST:
            self.attributes.request_bytes += len(chunk)
        try:
            env = self.dispatch(side, DATA, eos)
            if self.closed or self.client_reset:
                return
            if env == CONTINUE:
                self.flush(side)
                sd.sent_body += sd.received
                sd.sent_end = eos
                if side == RESPONSE:
                    self.attributes.response_bytes = len(sd.sent_body)
            elif env in (STOP_BUFFER, STOP_WATERMARK):
                sd.buffered += sd.received
                if env == STOP_BUFFER and len(sd.buffered) > self.buffer_limit:
                    self.buffer_overflow(side)
            # StopIterationNoBuffer: the chunk was consumed by the filter
        finally:
            sd.received = None

    def envoy_trailers(self, side: int, trailers: list[list[bytes]]) -> None:
        sd = self.sides[side]
        sd.end_arrived = True
        self.maps[_htype_of(side, TRAILERS)] = trailers
        env = self.dispatch(side, TRAILERS, True)
        if self.closed or self.client_reset:
            return
        if env == CONTINUE:
            self.flush(side)
            sd.sent_trailers = [(k, v) for k, v in trailers]
            sd.sent_end = True
        else:
            sd.held_trailers = True

    # -- the end of the stream (dispatch.pxi: stream_complete, destroy) --
    def complete(self) -> None:
        self.ended = True
        self.attributes.finish()
        try:
            self.raise_init_error()
        except Exception as e:  # noqa: BLE001
            self.fail(NONE, "on_log", e)
            return
        if self.pend is not None:
            self.abandon()
        fn = self.fc.fn["on_log"]
        if fn is not None:
            self.run_detached(fn, "on_log")

    def destroy(self) -> None:
        with self.cond:
            self.destroyed = True
        if self.pend is not None:
            self.abandon()
        fn = self.fc.fn["on_destroy"]
        if fn is not None:
            self.run_detached(fn, "on_destroy")

    def run_detached(self, fn: Any, hook: str) -> None:
        try:
            result = self.ctx.copy().run(fn, self.filter)
            if result is None or type(result) is Status or not _is_awaitable(result):
                return
            coro = result if asyncio.iscoroutine(result) else _await(result)
            future = asyncio.run_coroutine_threadsafe(_in_context(coro, self.ctx.copy()),
                                                      _native.event_loop())
            try:
                future.result(self.timeout)
            except TimeoutError:
                future.cancel()
                raise StuckStreamError(f"{self.fc.name}.{hook}: its coroutine did not finish "
                                       f"within {self.timeout:g} s") from None
        except StuckStreamError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001
            self.fail(NONE, hook, e)


def _watch(loop: Any, p: _Pending, task: Any, steps: int) -> None:
    """Runs right behind each step of a hook's Task: waiting on a future, or 16 bare yields in
    a row, take it off the worker in the runtime (pending.pxi)."""
    if task.done() or p.left_worker:
        return
    if getattr(task, "_fut_waiter", None) is not None or steps >= 16:
        p.left_worker = True
    else:
        loop.call_soon(_watch, loop, p, task, steps + 1)


def status_of(result: Any, fn: Any) -> int:
    """native/status.pxi _status_of."""
    if result is None:
        return S_CONTINUE
    if type(result) is Status:
        return int(result)
    raise InvalidStatusError(
        f"{getattr(fn, '__qualname__', fn)} returned {result!r}; a hook must return an "
        f"envoy_pyext.Status or None")


def _is_awaitable(result: Any) -> bool:
    return inspect.iscoroutine(result) or hasattr(result, "__await__")


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _in_context(coro: Any, ctx: contextvars.Context) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.create_task(coro, context=ctx)


Responder = Callable[..., Any]
