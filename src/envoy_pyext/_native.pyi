# envoy-pyext: Apache-2.0
#
# Type stubs for envoy_pyext._native, the Cython core (_native.pyx + native/*.pxi). Type
# checkers read this file instead of the compiled module; it declares only what users may use.
# Keep it in step with the `### Public API ###` parts of native/*.pxi, one section per topic
# (the same order as envoy_pyext/__init__.py): filter API, status, errors, runtime.
#
# Internal names of the module are left out on purpose, so that a type checker rejects their
# use: FilterConfig (a loaded filter configuration) and every name starting with an underscore
# (_Stream, _Pending, _Shadow, _EventLoop, _ABI, _phase_table, ...).

import asyncio
import datetime
import enum
import logging
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, ClassVar, Final, Literal, Protocol, TypeAlias, TypeVar, overload

from typing_extensions import Buffer as _ReadableBuffer
from typing_extensions import disjoint_base

_T = TypeVar("_T")

# What the runtime accepts where it writes a body (Buffer.set/append/prepend,
# send_local_reply's body): bytes-like objects or str (encoded as UTF-8). A Buffer is copied.
_BodyData: TypeAlias = bytes | bytearray | memoryview | str | Buffer

# A header name: str or bytes (an HTTP token, or ":" + token for a pseudo-header;
# case-insensitive). A header value: str (UTF-8, lone surrogates from "surrogateescape" turn
# back into their bytes), bytes-like, or int (written in decimal). bool is refused at runtime.
_HeaderName: TypeAlias = str | bytes
_HeaderValue: TypeAlias = str | bytes | bytearray | memoryview | int


class _HeaderItems(Protocol):
    # Anything with .items() giving (name, value) pairs: dict, Mapping, HeaderMap, ...
    def items(self) -> Iterable[tuple[_HeaderName, _HeaderValue]]: ...


# send_local_reply's headers: a dict (or anything with .items()) or an iterable of
# (name, value) pairs; repeat a name in the pairs to send several values.
_ReplyHeaders: TypeAlias = _HeaderItems | Iterable[tuple[_HeaderName, _HeaderValue]]

# What a stream hook may return: a Status, None (= Status.CONTINUE), or an awaitable of one of
# them. An `async def` hook is a function returning Coroutine[Any, Any, Status | None], which is
# an Awaitable[Status | None]: both plain and async overrides of the hooks type-check.
_HookResult: TypeAlias = Status | None | Awaitable[Status | None]

# on_log / on_destroy: their result is not used; they may be `async def`.
_LifecycleResult: TypeAlias = None | Awaitable[None]


# filter API ###################################################################################


# Filter, HeaderMap, Buffer and Callbacks are Cython extension types with C fields: disjoint
# bases (PEP 800), no class can derive from two of them.
@disjoint_base
class Filter:
    """Base class of an Envoy HTTP filter written in Python; one instance per HTTP stream.

    Override any of the hooks; a hook you do not override costs nothing (the runtime does not
    even take the GIL for it). Each stream hook returns a Status (None means CONTINUE) and may
    be ``async def``. Instances may hold any per-stream state in attributes: each stream
    starts without any (a finished stream's object nothing else held may be reset and reused
    for the next stream; see docs/api.md "One Filter per stream"). They are kept as in any
    Python object of your own class; a Cython ``cdef class`` subclass declares its fields (or
    ``cdef dict __dict__``).
    """

    fail_open: ClassVar[bool]
    """False (default): an exception escaping a hook answers the request with 500 (response
    path: resets the stream). True: the stream continues as if the hook returned CONTINUE."""

    def __init__(self) -> None:
        """Optional in subclasses, without arguments; ``self.config`` is already set."""

    @classmethod
    def parse_config(cls, raw: str) -> Any:
        """Turns the raw ``filter_config`` string into ``self.config``; called once per filter
        config when Envoy loads it. A StringValue/BytesValue arrives as is, a Struct as JSON.
        Raise to reject Envoy's configuration. The default returns ``raw``."""

    @classmethod
    def parse_route_config(cls, raw: str) -> Any:
        """Turns a per-route ``filter_config`` (typed_per_filter_config under the filter's
        name: a DynamicModuleFilterPerRoute whose filter_name names this class, on a route,
        virtual host or weighted cluster) into an object, when Envoy loads the route
        configuration. Raise to reject it. The default returns ``raw``."""

    @classmethod
    def merge_route_config(cls, base: Any, override: Any) -> Any:
        """``self.route_config`` of a stream whose route has a per-route config: ``base`` is
        the filter's config, ``override`` the most specific per-route config (Envoy 1.40 hands
        over no other). Cached per filter config and per-route config. Default: ``override``."""

    @property
    def route_config(self) -> Any:
        """merge_route_config(self.config, the route's per-route config), or None when none
        applies."""

    @property
    def config(self) -> Any:
        """What parse_config returned for this filter's configuration (shared by every stream:
        do not mutate it)."""

    @property
    def callbacks(self) -> Callbacks:
        """The stream's Callbacks (send_local_reply, continue_request, log, ...)."""

    @property
    def request_headers(self) -> HeaderMap:
        """The request headers of this stream (readable in every later hook)."""

    @property
    def response_headers(self) -> HeaderMap:
        """The response headers of this stream (once they exist)."""

    @property
    def request_trailers(self) -> HeaderMap:
        """The request trailers of this stream (once they exist)."""

    @property
    def response_trailers(self) -> HeaderMap:
        """The response trailers of this stream (once they exist)."""

    @property
    def request_body(self) -> Buffer:
        """The request body as Envoy holds it (outside decode_data: what it buffered)."""

    @property
    def response_body(self) -> Buffer:
        """The response body as Envoy holds it (outside encode_data: what it buffered)."""

    @property
    def stream_info(self) -> StreamInfo:
        """What Envoy knows about the stream: route, cluster, addresses, response code,
        timings, TLS. In a pending hook: the values as they were when its work left the
        Envoy worker."""

    @property
    def metadata(self) -> Metadata:
        """The stream's dynamic metadata (read and write), and the route's, cluster's, host's
        and locality's metadata (read)."""

    @property
    def filter_state(self) -> FilterState:
        """Envoy's filter state for the stream: bytes for Envoy's other filters and the access
        log, Python objects for other Python filters of the stream or connection."""

    @property
    def span(self) -> Span | None:
        """The stream's tracing span (set_tag, log, child spans), or None when Envoy does not
        trace the stream."""

    def secret(self, name: str) -> bytes | None:
        """The current bytes of the SDS generic secret ``name`` (subscribed in parse_config
        with ``context.secret(name, sds_config)``), or None while Envoy has not delivered it
        (an empty secret reads as None too). A name the configuration did not subscribe raises
        EnvoyPyextError."""

    def get_property(self, path: str, default: Any = None) -> Any:
        """One of Envoy's attributes by its CEL name ("request.time", "source.address",
        "xds.route_name", "connection.mtls", ...), typed: str, int, bool, datetime (
        request.time) or timedelta (request.duration); ``default`` when Envoy has no value
        (connection.mtls is False on plaintext). An unknown name raises ValueError."""

    def http_call(
        self,
        cluster: str | bytes,
        method: str = "GET",
        path: str = "/",
        headers: _ReplyHeaders | None = None,
        body: _BodyData = b"",
        timeout: float = 5.0,
        max_response_bytes: int | None = None,
    ) -> Awaitable[HttpResponse]:
        """Calls another service through the Envoy cluster ``cluster`` (its load balancing,
        TLS, circuit breakers, stats); await it in an async hook. ``host`` defaults to the
        cluster's name. Raises ClusterNotFoundError, CalloutRequestError, CalloutResetError,
        ResponseTooLargeError (over ``max_response_bytes``, default 1 MiB) or TimeoutError."""

    def http_stream(
        self,
        cluster: str | bytes,
        method: str = "POST",
        path: str = "/",
        headers: _ReplyHeaders | None = None,
        timeout: float = 60.0,
    ) -> HttpStream:
        """A streamed call through the Envoy cluster ``cluster``: ``async with
        self.http_stream(...) as s:`` then ``await s.send(data, end_stream=...)``, ``await
        s.response_headers()``, ``async for chunk in s``. Leaving the block early resets it."""

    # The stream hooks. The runtime passes their arguments by position, so overrides may name
    # them as they like. Annotate an override `-> Status | None` (plain) or `async def ... ->
    # Status | None`, or `-> None` when it never returns a Status; under mypy --strict a hook
    # that returns a Status on some paths needs an explicit `return None` on the others.

    def decode_headers(self, headers: HeaderMap, end_stream: bool, /) -> _HookResult:
        """The request headers arrived; ``end_stream``: the request has no body."""

    def decode_data(self, buffer: Buffer, end_stream: bool, /) -> _HookResult:
        """A chunk of the request body arrived (``buffer``: what Envoy buffered for this
        filter followed by the chunk); ``end_stream``: it is the last one."""

    def decode_trailers(self, trailers: HeaderMap, /) -> _HookResult:
        """The request trailers arrived (the request ends with them)."""

    def encode_headers(self, headers: HeaderMap, end_stream: bool, /) -> _HookResult:
        """The response headers arrived; ``end_stream``: the response has no body."""

    def encode_data(self, buffer: Buffer, end_stream: bool, /) -> _HookResult:
        """A chunk of the response body arrived (``buffer``: what Envoy buffered for this
        filter followed by the chunk); ``end_stream``: it is the last one."""

    def encode_trailers(self, trailers: HeaderMap, /) -> _HookResult:
        """The response trailers arrived (the response ends with them)."""

    def on_log(self) -> _LifecycleResult:
        """The stream is complete, before Envoy's access logs. Errors are logged only. If
        ``async def``, its first step runs inline, the rest detached on the event loop."""

    def on_destroy(self) -> _LifecycleResult:
        """The stream is gone: its headers, bodies and callbacks can no longer be used (they
        raise StreamDestroyedError). Errors are logged only; may be ``async def``."""

    def on_local_reply(self, status_code: int, details: str, reset_imminent: bool, /
                       ) -> Status | None:
        """A local reply is about to be sent for the stream: Envoy's (no route, upstream
        unavailable, a timeout, a direct_response route), another filter's or this filter's
        own. Return Status.RESET to reset the stream instead; None or CONTINUE sends it.
        Optional, on the worker, never ``async``; errors are logged only."""


@disjoint_base
class HeaderMap:
    """Request or response headers (or trailers) of one stream: a live view onto Envoy's map.

    Names are case-insensitive (stored lower-case); a name may have several values. Values
    are str decoded from UTF-8 with "surrogateescape" (``get_bytes``/``raw_items`` give the
    exact bytes). Invalid names, values with control characters (tab allowed), and empty
    values raise ValueError. Created by the runtime only.
    """

    @overload
    def get(self, name: _HeaderName) -> str | None:
        """The first value of ``name`` as str, or None."""

    @overload
    def get(self, name: _HeaderName, default: _T) -> str | _T:
        """The first value of ``name`` as str, or ``default``."""

    @overload
    def get_bytes(self, name: _HeaderName) -> bytes | None:
        """The first value of ``name`` as the exact bytes Envoy holds, or None."""

    @overload
    def get_bytes(self, name: _HeaderName, default: _T) -> bytes | _T:
        """The first value of ``name`` as the exact bytes Envoy holds, or ``default``."""

    def get_all(self, name: _HeaderName) -> list[str]:
        """Every value of ``name``, in order (an empty list when absent)."""

    def set(self, name: _HeaderName, value: _HeaderValue) -> None:
        """Replaces every value of ``name`` with ``value``."""

    def add(self, name: _HeaderName, value: _HeaderValue) -> None:
        """Appends a value for ``name``, keeping the existing ones."""

    def remove(self, name: _HeaderName) -> None:
        """Removes every value of ``name``; absent names are ignored."""

    def keys(self) -> list[str]:
        """Distinct names, lower-case, in first-seen order."""

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in order, repeated names included."""

    def raw_items(self) -> list[tuple[bytes, bytes]]:
        """Every (name, value) pair as bytes, exactly as Envoy holds them."""

    def __getitem__(self, name: _HeaderName, /) -> str:
        """The first value of ``name``; KeyError if absent."""

    def __setitem__(self, name: _HeaderName, value: _HeaderValue, /) -> None:
        """Replaces every value of ``name`` (like ``set``)."""

    def __delitem__(self, name: _HeaderName, /) -> None:
        """Removes every value of ``name``; KeyError if absent."""

    def __contains__(self, name: _HeaderName, /) -> bool:
        """Whether ``name`` has at least one value."""

    def __len__(self) -> int:
        """The number of distinct names (like a dict of lists)."""

    def __iter__(self) -> Iterator[str]:
        """The distinct names, lower-case, in first-seen order."""


@disjoint_base
class Buffer:
    """The request or response body of one stream, as Envoy holds it. Inside a data hook: what
    Envoy has buffered for this filter followed by the chunk just received; elsewhere, what
    Envoy has buffered. Writes go to Envoy immediately. Created by the runtime only.

    ``memoryview(buf)`` gives a read-only view, zero-copy when Envoy holds the body in one
    slice (otherwise one copy); it is valid only until the hook returns.
    """

    def __len__(self) -> int:
        """The size of the body in bytes."""

    def __bytes__(self) -> bytes:
        """A copy of the whole body."""

    def to_bytes(self) -> bytes:
        """A copy of the whole body."""

    def to_bytearray(self) -> bytearray:
        """A copy of the whole body as a ``bytearray``, to edit in place and ``set()`` back
        (one copy each way)."""

    def set(self, data: _BodyData) -> None:
        """Replaces the body with ``data`` (bytes-like or str, UTF-8)."""

    def append(self, data: _BodyData) -> None:
        """Adds ``data`` at the end of the body."""

    def prepend(self, data: _BodyData) -> None:
        """Adds ``data`` at the start of the body."""

    def drain(self, n: int) -> None:
        """Removes the first ``n`` bytes (all of them if ``n`` is larger); ValueError if
        ``n`` is negative."""

    def clear(self) -> None:
        """Removes the whole body."""

    def translate(self, table: _ReadableBuffer | None) -> None:
        """Maps every byte of the body through ``table`` (256 bytes, as ``bytes.translate``;
        None changes nothing), in place where Envoy holds it: no copy, same length.
        TypeError if ``table`` is not bytes-like, ValueError if it is not 256 bytes long."""

    def upper(self) -> None:
        """Upper-cases the ASCII letters of the body in place (as ``bytes.upper``)."""

    def lower(self) -> None:
        """Lower-cases the ASCII letters of the body in place (as ``bytes.lower``)."""

    # The buffer protocol (read-only). The class implements it in C (bf_getbuffer); the
    # Python-level __buffer__/__release_buffer__ (PEP 688) exist at runtime from Python 3.12
    # on, but type checkers use them for every version: they make memoryview(buf), bytes(buf)
    # and other ReadableBuffer arguments type-check.
    def __buffer__(self, flags: int, /) -> memoryview:
        """A read-only memoryview of the body (BufferError if a writable one is asked for)."""

    def __release_buffer__(self, buffer: memoryview, /) -> None: ...


_MetadataSource: TypeAlias = Literal["dynamic", "route", "cluster", "host", "host_locality"]
# What a metadata value reads back as (numbers are floats: google.protobuf.Value has doubles).
_MetadataValue: TypeAlias = str | float | bool | list[str | float | bool | None]
# What self.metadata.set writes (a list or dict goes as a google.protobuf.Struct).
_MetadataInput: TypeAlias = (
    str | int | float | bool | None | list["_MetadataInput"] | tuple["_MetadataInput", ...]
    | dict[str, "_MetadataInput"])


@disjoint_base
class Metadata:
    """The stream's metadata: ``self.metadata``. Reads on the Envoy worker (sync hooks, on_log,
    an async hook before it waits on something; elsewhere EnvoyPyextError); writes also from a
    pending hook (applied when it resumes). Created by the runtime only."""

    def get(
        self,
        namespace: str,
        key: str,
        default: Any = None,
        source: _MetadataSource = "dynamic",
        type: type[str] | type[float] | type[int] | type[bool] | type[list[Any]] | None = None,
    ) -> Any:
        """The value of ``key`` in ``namespace`` of ``source``'s metadata: str, float, bool or a
        list of them; ``default`` when there is none. ``type`` reads that type only (Envoy's
        ABI reads metadata by type: see docs/api.md)."""

    def set(self, namespace: str, key: str, value: _MetadataInput) -> None:
        """Sets ``key`` in the stream's dynamic metadata ``namespace``."""

    def namespaces(self, source: _MetadataSource = "dynamic") -> list[str]: ...
    def keys(self, namespace: str, source: _MetadataSource = "dynamic") -> list[str]: ...


_LifeSpan: TypeAlias = Literal["filter_chain", "request", "connection"]


@disjoint_base
class FilterState:
    """Envoy's filter state for the stream: ``self.filter_state``. Reads on the Envoy worker
    (elsewhere EnvoyPyextError); writes also from a pending hook (applied when it resumes).
    Created by the runtime only."""

    def set(self, key: str, value: bytes | bytearray | memoryview | str,
            life_span: _LifeSpan = "request") -> None:
        """Stores bytes (a str as UTF-8) under ``key``: readable by Envoy's other filters and
        the access log (%FILTER_STATE(key:PLAIN)%)."""

    def get(self, key: str, default: _T | None = None) -> bytes | _T | None:
        """The bytes stored under ``key``, or ``default``."""

    def __contains__(self, key: str, /) -> bool: ...
    def set_object(self, key: str, obj: object, life_span: _LifeSpan = "request") -> None:
        """Hands any Python object to Envoy under ``key`` for ``life_span``; Envoy drops the
        reference when the stream (or connection) ends."""

    def get_object(self, key: str, default: Any = None) -> Any:
        """The object stored under ``key`` by set_object (any Python filter of the stream, or
        of the connection, in this interpreter), or ``default``. Raises EnvoyPyextError for
        an object another interpreter stored (``interpreter: per_worker`` / shared)."""


# Metrics, declared as class attributes of a Filter; `self.<attr>` is the bound form.
_LabelValue: TypeAlias = str | int


class Counter:
    """An Envoy counter, declared on a Filter class:
    ``requests = Counter("requests_total", labels=("route", "code"))``; used in a hook as
    ``self.requests.inc(route=..., code=...)``. Shown in admin /stats and /stats/prometheus
    under the module's metrics_namespace (default dynamicmodulescustom)."""

    def __init__(self, name: str, labels: Iterable[str] = ()) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def attribute(self) -> str | None: ...
    def __set_name__(self, owner: type, name: str, /) -> None: ...
    @overload
    def __get__(self, obj: None, objtype: type | None = None, /) -> Counter: ...
    @overload
    def __get__(self, obj: Filter, objtype: type | None = None, /) -> BoundCounter: ...


class Gauge:
    """An Envoy gauge, declared on a Filter class: ``inflight = Gauge("inflight")``; used as
    ``self.inflight.inc()``, ``.dec()``, ``.set(value)`` (with the label values as keyword
    arguments when it has labels)."""

    def __init__(self, name: str, labels: Iterable[str] = ()) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def attribute(self) -> str | None: ...
    def __set_name__(self, owner: type, name: str, /) -> None: ...
    @overload
    def __get__(self, obj: None, objtype: type | None = None, /) -> Gauge: ...
    @overload
    def __get__(self, obj: Filter, objtype: type | None = None, /) -> BoundGauge: ...


class Histogram:
    """An Envoy histogram, declared on a Filter class:
    ``latency = Histogram("latency_ms", labels=("route",))``; used as
    ``self.latency.record(value, route=...)``."""

    def __init__(self, name: str, labels: Iterable[str] = ()) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def attribute(self) -> str | None: ...
    def __set_name__(self, owner: type, name: str, /) -> None: ...
    @overload
    def __get__(self, obj: None, objtype: type | None = None, /) -> Histogram: ...
    @overload
    def __get__(self, obj: Filter, objtype: type | None = None, /) -> BoundHistogram: ...


class BoundCounter:
    """A Counter as seen from a stream (``self.<attr>``). Label values are keyword arguments,
    exactly the declared labels (else ValueError); str or int. Works in every hook, from
    coroutines and RUNNING threads (applied on the worker), never after destroy."""

    def inc(self, n: int = 1, /, **labels: _LabelValue) -> None: ...


class BoundGauge:
    """A Gauge as seen from a stream (``self.<attr>``)."""

    def set(self, value: int, /, **labels: _LabelValue) -> None: ...
    def inc(self, n: int = 1, /, **labels: _LabelValue) -> None: ...
    def dec(self, n: int = 1, /, **labels: _LabelValue) -> None: ...


class BoundHistogram:
    """A Histogram as seen from a stream (``self.<attr>``)."""

    def record(self, value: int | float, /, **labels: _LabelValue) -> None:
        """Records ``value`` (non-negative; a float is rounded to an int)."""


@disjoint_base
class StreamInfo:
    """What Envoy knows about a stream: ``self.stream_info``. Read-only. On the Envoy worker
    every value is read from Envoy when asked; in a pending hook (a coroutine that left the
    worker, a thread after Status.RUNNING) the values are those of when its work left the
    worker. Raises StreamDestroyedError once the stream is gone. Created by the runtime only."""

    @property
    def route_name(self) -> str | None:
        """The name of the route the stream took; None when it has none."""

    @property
    def virtual_host_name(self) -> str | None: ...
    @property
    def cluster_name(self) -> str | None:
        """The upstream cluster the route chose; None when there is none."""

    @property
    def protocol(self) -> str | None:
        """The downstream protocol: "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"."""

    @property
    def response_code(self) -> int | None:
        """The response status code; None before there is one."""

    @property
    def response_code_details(self) -> str | None: ...
    @property
    def response_flags(self) -> int:
        """Envoy's response flags as a bit mask (0: none)."""

    @property
    def request_id(self) -> str | None: ...
    @property
    def connection_id(self) -> int | None: ...
    @property
    def downstream_remote_address(self) -> str | None:
        """The client's "ip:port"."""

    @property
    def downstream_local_address(self) -> str | None:
        """The "ip:port" the client connected to."""

    @property
    def downstream_direct_remote_address(self) -> str | None:
        """The "ip:port" of the TCP peer."""

    @property
    def upstream_host(self) -> str | None:
        """The upstream host's "ip:port"; None before one was chosen."""

    @property
    def upstream_local_address(self) -> str | None: ...
    @property
    def upstream_hosts_attempted(self) -> list[str]:
        """Every upstream host tried so far, retries included."""

    @property
    def attempt_count(self) -> int:
        """Upstream requests made so far, retries included (0 before the first)."""

    @property
    def worker_index(self) -> int: ...
    @property
    def bytes_received(self) -> int:
        """Request body bytes received so far."""

    @property
    def bytes_sent(self) -> int:
        """Response body bytes sent so far."""

    @property
    def start_time(self) -> datetime.datetime | None:
        """When the stream started (timezone-aware, UTC)."""

    @property
    def duration(self) -> float | None:
        """Seconds from the start to the end of the stream; None while it runs."""

    @property
    def tls(self) -> TlsInfo | None:
        """The downstream TLS session; None on a plaintext connection."""


@disjoint_base
class TlsInfo:
    """The downstream connection's TLS session (``self.stream_info.tls``)."""

    @property
    def sni(self) -> str | None: ...
    @property
    def version(self) -> str:
        """"TLSv1.2", "TLSv1.3"."""

    @property
    def peer_certificate_presented(self) -> bool: ...
    @property
    def peer_certificate_validated(self) -> bool | None:
        """Always None: Envoy 1.40's ABI does not expose it."""

    @property
    def peer_subject(self) -> str | None: ...
    @property
    def local_subject(self) -> str | None: ...
    @property
    def peer_uri_sans(self) -> list[str]:
        """The peer certificate's first URI SAN (Envoy 1.40 exposes only the first)."""

    @property
    def peer_dns_sans(self) -> list[str]:
        """The peer certificate's first DNS SAN (Envoy 1.40 exposes only the first)."""

    @property
    def sha256_peer_certificate_digest(self) -> str | None: ...


@disjoint_base
class Callbacks:
    """What a filter can ask of Envoy for its stream: ``self.callbacks``. send_local_reply,
    continue_request and continue_response may be called from any thread while a hook of the
    stream is pending; the runtime applies them on the stream's worker thread. Created by the
    runtime only."""

    def send_local_reply(
        self,
        status_code: int,
        body: _BodyData = b"",
        headers: _ReplyHeaders | None = None,
        details: str = "",
    ) -> Status:
        """Answers the client directly with ``status_code`` (200..599), ``body`` and
        ``headers`` (a dict or a list of (name, value) pairs); ``details`` shows in Envoy's
        response details. Returns Status.LOCAL_REPLY: return it from the hook. Works on the
        request path and, before the response headers went out, on the response path."""

    def reset_stream(self, details: str = "") -> None:
        """Resets the stream (HTTP/2: RST_STREAM; HTTP/1.1: the connection closes);
        ``details`` goes to the access log's response code details. The stream ends for the
        filter: no later hook runs, what the hook returns no longer matters; from a pending
        hook it is applied when the hook's work is done (no continue_*() needed)."""

    def recreate_stream(self, headers: _ReplyHeaders | None = None) -> None:
        """Envoy's internal redirect: the request, with its headers as the filter changed
        them, starts again as a new stream (routed again, new Filter objects). Envoy does it
        only once the whole request arrived (a body it buffered goes to the new stream);
        ``headers``: response headers for
        the old stream's access log. Raises EnvoyPyextError when Envoy refuses (a pending
        hook's refused recreate is answered like its exception: 500)."""

    def send_go_away_and_close(self, graceful: bool = True) -> None:
        """Closes the client's connection: HTTP/2 with a GOAWAY (``graceful``: NO_ERROR with
        the drain sequence, else an immediate close), HTTP/1.1 by resetting this stream. The
        stream ends for the filter, like reset_stream."""

    def continue_request(self) -> None:
        """Resumes the request after its hook returned Status.RUNNING (any thread)."""

    def continue_response(self) -> None:
        """Resumes the response after its hook returned Status.RUNNING (any thread)."""

    @property
    def buffer_limit(self) -> int:
        """Envoy's buffer limit for this stream in bytes (0: none). Raise it to buffer bodies
        larger than the listener's default (1 MiB) with STOP_AND_BUFFER; a body over the
        limit is answered 413 (request) or 500 (response) by Envoy. Worker thread only."""

    @buffer_limit.setter
    def buffer_limit(self, limit: int) -> None: ...

    def clear_route_cache(self) -> None:
        """Makes Envoy choose the route again, after a request header change that should
        re-route (Envoy chose it before the filter chain ran). From a pending hook: applied
        when it resumes, after its header writes."""

    def set_upstream_override_host(self, host: str, strict: bool = False) -> None:
        """Sends the request to the endpoint ``host`` ("ip:port", IPv6 "[ip]:port") of the
        routed cluster; ``strict``: answer 503 rather than load-balance when it is not there.
        A malformed host raises ValueError. From a pending hook: applied when it resumes."""

    def add_response_flag(self, flag: str) -> None:
        """Adds a marker for the access log (%CUSTOM_FLAGS%, not %RESPONSE_FLAGS%); no
        whitespace."""

    @property
    def worker_index(self) -> int:
        """The index of the Envoy worker thread running this stream. Worker thread only."""

    def log(self, level: str | int, message: object) -> None:
        """Writes ``message`` (str() of it) to Envoy's log at ``level``: "trace", "debug",
        "info", "warning", "error", "critical", or a ``logging`` level such as
        logging.WARNING. Envoy's log shows the caller's file:line."""


@disjoint_base
class Span:
    """A tracing span: ``self.span`` (the stream's span in Envoy's tracer) or one of its
    children. Writes from a pending hook are applied, in order, when it resumes. Created by
    the runtime only."""

    def set_tag(self, key: str | bytes, value: str | bytes | int | float) -> None: ...
    def log(self, event: str | bytes) -> None:
        """Records ``event`` on the span with the current time."""

    def set_operation(self, name: str | bytes) -> None: ...
    def set_sampled(self, sampled: bool) -> None: ...
    def set_baggage(self, key: str | bytes, value: str | bytes) -> None: ...
    def get_baggage(self, key: str | bytes) -> str | None:
        """The baggage value, or None. Worker only (not in a pending hook)."""

    @property
    def trace_id(self) -> str:
        """The trace id ("" if the tracer has none)."""

    @property
    def span_id(self) -> str:
        """The span id ("" when the tracer does not expose it: Envoy's Zipkin tracer)."""

    def child(self, name: str | bytes) -> Span:
        """Starts a child span; ``with span.child("db") as c:`` finishes it on exit (an
        exception tags it error=true)."""

    def finish(self) -> None:
        """Finishes a child span (idempotent); the stream's span is finished by Envoy."""

    def __enter__(self) -> Span: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]: ...


# status #######################################################################################


class Status(enum.IntEnum):
    """What a hook tells the runtime to do next. Returning ``None`` means ``CONTINUE``."""

    CONTINUE = 0
    """Go on: pass the headers, this chunk or the trailers on."""
    STOP_AND_BUFFER = 1
    """Buffer the whole body in Envoy, then call the data hook once with all of it and
    ``end_stream=True``. From a trailers hook: stop."""
    STOP_AND_BUFFER_WATERMARK = 2
    """Stop; Envoy buffers with back-pressure. From a headers hook, resume with
    ``callbacks.continue_request()``/``continue_response()``; from a data hook, the chunk
    stays in Envoy and the hook is called again for later chunks."""
    STOP_NO_BUFFER = 3
    """Stop; from a data hook, Envoy does not keep this chunk (the filter consumed it)."""
    LOCAL_REPLY = 4
    """The stream was answered: what ``callbacks.send_local_reply(...)`` returns."""
    RUNNING = 5
    """The work continues in another thread, which calls ``continue_request()``,
    ``continue_response()`` or ``send_local_reply()`` later."""
    RESET = 6
    """From on_local_reply only: reset the stream instead of sending the local reply."""


@disjoint_base
class HttpStream:
    """A streamed call through an Envoy cluster (``Filter.http_stream``)."""

    @property
    def status(self) -> int:
        """The response status (0 until the response headers arrived)."""
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def trailers(self) -> list[tuple[str, str]]: ...
    async def response_headers(self) -> None: ...
    async def send(self, data: _BodyData, end_stream: bool = False) -> None: ...
    async def send_trailers(self, trailers: _ReplyHeaders) -> None: ...
    def __aiter__(self) -> HttpStream: ...
    async def __anext__(self) -> bytes: ...
    async def __aenter__(self) -> HttpStream: ...
    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...


@disjoint_base
class ConfigContext:
    """What ``parse_config(cls, raw, context)`` gets: work that belongs to the filter
    configuration rather than to a request."""

    @property
    def filter_name(self) -> str: ...
    @property
    def is_validation(self) -> bool:
        """True under ``envoy --mode validate`` (spawn() then runs nothing)."""

    def secret(self, name: str, sds_config: dict[str, Any] | str | None = None) -> None:
        """Subscribes this configuration to the SDS generic secret ``name`` (in parse_config
        only); hooks read it with ``self.secret(name)``. ``sds_config``: a
        config.core.v3.ConfigSource as a dict or JSON, e.g. ``{"path_config_source": {"path":
        "/etc/envoy/secret.yaml"}}`` (needs the bootstrap's node id and cluster); None: the
        bootstrap's static secret ``name``. Raises EnvoyPyextError when Envoy refuses."""

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any] | None:
        """Runs the coroutine on the runtime's event loop while this configuration lives
        (cancelled when it is destroyed); None under --mode validate."""

    def http_call(
        self,
        cluster: str | bytes,
        method: str = "GET",
        path: str = "/",
        headers: _ReplyHeaders | None = None,
        body: _BodyData = b"",
        timeout: float = 5.0,
        max_response_bytes: int | None = None,
    ) -> Awaitable[HttpResponse]:
        """Filter.http_call's config-level twin (made on Envoy's main thread)."""


class HttpResponse:
    """The response of ``Filter.http_call``."""

    status: int
    headers: list[tuple[str, str]]
    """Names lower-case, pseudo-headers left out, repeats kept in order."""
    body: bytes
    trailers: list[tuple[str, str]]

    def __init__(self, status: int, headers: Iterable[tuple[str, str]], body: bytes,
                 trailers: Iterable[tuple[str, str]] = ()) -> None: ...
    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...


# errors #######################################################################################


class EnvoyPyextError(Exception):
    """Base class of every exception envoy-pyext raises; also Envoy refusing a write."""


class StreamDestroyedError(EnvoyPyextError):
    """The stream this object belongs to is gone (Envoy destroyed it); nothing was touched."""


class WrongThreadError(EnvoyPyextError):
    """Envoy memory was touched from a thread that is not the stream's Envoy worker thread,
    while no hook of the stream has handed work off the worker."""


class FilterConfigError(EnvoyPyextError):
    """A filter configuration cannot be loaded; Envoy rejects the configuration."""


class InvalidStatusError(EnvoyPyextError, TypeError):
    """A hook returned something that is not a Status or None (answered like an exception)."""


class CalloutError(EnvoyPyextError):
    """A call through an Envoy cluster failed (see the subclasses)."""


class ClusterNotFoundError(CalloutError):
    """Envoy has no cluster of that name."""


class CalloutRequestError(CalloutError):
    """Envoy refused to create the request (missing :method/:path/host, or invalid)."""


class CalloutResetError(CalloutError):
    """The call's stream was reset; ``reason`` names why (``"connection_failure"``,
    ``"overflow"``, ``"remote_reset"``, ...)."""

    reason: str | None
    def __init__(self, message: str, reason: str | None = None) -> None: ...


class ResponseTooLargeError(CalloutError):
    """The response body was larger than ``max_response_bytes``."""


# runtime ######################################################################################


FEATURES: Final[frozenset[str]]
"""What this build of the runtime supports: "async", "threads", "tasks", "contextvars",
"http_call"."""


def stats() -> dict[str, int]:
    """Process-wide counters of the runtime (this Envoy process): live_filters, live_streams,
    filters_created, streams_reused (streams that got a finished stream's Filter, reset),
    errors, escaped_views, pending, pending_peak, live_callouts, hook_tasks; and of the
    filter code: live_configs (filter configurations in use, by Envoy or by in-flight
    streams), code_versions (versions of filter code alive), code_loads (versions loaded so
    far), unreleased_modules (modules of replaced versions something still holds)."""


def reset_pending_peak() -> None:
    """Starts a new measurement of ``stats()["pending_peak"]``."""


def in_envoy() -> bool:
    """True inside an Envoy process (the callbacks resolved), False in a plain interpreter."""


def in_subinterpreter() -> bool:
    """True when this code runs in a per-worker sub-interpreter (``interpreter: per_worker``)."""


# envoy_pyext.shared's store (its API is envoy_pyext/shared.py)
def _shared_get(key: str) -> bytes | None: ...
def _shared_set(key: str, value: bytes | bytearray | memoryview | str,
                expected: object = ...) -> bool: ...
def _shared_delete(key: str) -> bool: ...
def _shared_add(key: str, delta: int) -> int: ...
def _shared_keys(counters: bool) -> list[str]: ...
def _shared_clear() -> None: ...


# per-route configs and runtime values (tests)
def _route_configs_cached() -> list[int]: ...
def _runtime_refresh() -> None: ...


def event_loop() -> asyncio.AbstractEventLoop:
    """The runtime's shared asyncio event loop, running on its own thread (started on first
    use). Schedule work on it from other threads with ``loop.call_soon_threadsafe`` or
    ``asyncio.run_coroutine_threadsafe``."""


class EnvoyLogHandler(logging.Handler):
    """Sends records of Python's ``logging`` module to Envoy's log (component
    dynamic_modules). The runtime installs one on the root logger inside Envoy."""

    def emit(self, record: logging.LogRecord) -> None: ...
