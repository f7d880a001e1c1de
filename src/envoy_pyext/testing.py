# envoy-pyext: Apache-2.0
"""Unit-testing filters without Envoy: :class:`FilterTester`.

    from envoy_pyext.testing import FilterTester

    t = FilterTester(ApiKeyAuth, config='{"keys": ["k1"]}')
    r = t.request("GET", "/", headers={"x-api-key": "nope"})
    assert r.local_reply.status == 401 and r.upstream is None
    r = t.request("POST", "/", headers={"x-api-key": "k1"}, body=b"{}",
                  response=(200, {}, b"ok"))
    assert r.upstream.headers["x-auth-user"] == "k1" and r.client.status == 200

A FilterTester runs your real ``Filter`` subclass in this process, with the semantics of the
runtime inside Envoy (docs/api.md): the same hooks with the same arguments, every ``Status``
and the rules at the end of a direction, whole-body delivery for ``STOP_AND_BUFFER``,
content-length fixes and framing errors, local replies, the fail-closed 500 (or reset) for
exceptions and ``fail_open``, ``async def`` hooks as asyncio Tasks on the runtime's event loop,
``RUNNING`` with ``continue_request()`` from your threads, the per-stream ``contextvars``
context, ``on_log``/``on_destroy``, and ``http_call`` against fake clusters
(:attr:`FilterTester.callouts`). The views your hooks get (``headers``, ``buffer``,
``self.callbacks``, ``self.request_body`` ...) are ``HeaderMap``, ``Buffer`` and ``Callbacks``
objects (subclasses kept in memory) with the same API, validation and errors.

Each :meth:`FilterTester.request` is one stream: the request goes through the decode hooks,
what they let go on reaches a fake upstream (``response=``: a tuple, a :class:`Response`, or a
function of the :class:`UpstreamRequest`), its response goes through the encode hooks, and the
:class:`Result` tells what the upstream received, what the client got, the local reply, the
exceptions the runtime caught, and the lines your filter logged.

Where it differs from Envoy: Envoy splits and merges body chunks as they come off the network
(``chunks=[...]`` are delivered exactly as given: write data hooks that do not depend on chunk
boundaries); the upstream answers after the whole request arrived; work a hook left pending
is waited for before the next event is delivered (Envoy holds those events meanwhile and
delivers them afterwards, in order). Of Envoy's own answers only those for bodies buffered
beyond the buffer limit are simulated (413 for a request, 500 for a response); no route,
timeouts and other filters are not.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Union

from . import _checks, _native
from ._native import EnvoyPyextError, Filter, FilterConfigError, HttpResponse
from ._testcontext import (
    PROPERTY_NAMES,
    Metrics,
    TestSpan,
    check_metadata,
    check_properties,
    metrics_of,
)
from ._teststream import (
    HT_REQUEST_HEADERS,
    HT_RESPONSE_HEADERS,
    REQUEST,
    RESPONSE,
    HookError,
    LogLine,
    StreamConfig,
    StuckStreamError,
    TestStream,
    header_name,
    header_value,
)

__all__ = [
    "CalloutRequest",
    "Callouts",
    "ClientResponse",
    "FilterTester",
    "Headers",
    "HookError",
    "LocalReply",
    "LogLine",
    "Response",
    "Result",
    "StreamRequest",
    "StuckStreamError",
    "TestSpan",
    "UpstreamRequest",
    "echo",
    "load_filter_class",
    "runtime_values",
]

# Not in the stub (private to envoy_pyext.testing): binds a Filter to an in-memory stream.
_bind_test_stream: Callable[[Filter, Any], None] = getattr(_native, "_bind_test_stream")

_UNSET: Any = object()  # (request(route_config=...) not given)

HeadersLike = Union[Mapping[str, Any], Iterable[tuple[Any, Any]], None]


def runtime_values(values: Mapping[str, Any]) -> Any:
    """A context manager: inside it, ``envoy_pyext.runtime.get_*(key, default)`` answer
    ``values[key]`` (as the getter's type) for the keys given, anywhere in the process
    (outside Envoy they answer the default otherwise)."""
    from . import runtime
    return runtime._overridden(values)


# ---- results ---------------------------------------------------------------------------

class Headers:
    """Headers as they went over the wire: (name, value) pairs in order, names lower-case,
    looked up case-insensitively. Pseudo-headers (``:status``, ``:path``, ...) are left out."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = [(k.lower(), v) for k, v in pairs]

    @classmethod
    def _from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        return cls((k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
                   for k, v in raw if not k.startswith(b":"))

    def get(self, name: str, default: Any = None) -> Any:
        name = name.lower()
        for k, v in self._pairs:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._pairs if k == name]

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v  # type: ignore[no-any-return]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for k, _ in self._pairs))

    def keys(self) -> list[str]:
        return list(self)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def to_dict(self) -> dict[str, str]:
        """{name: value}; a repeated name keeps its values joined with ", "."""
        out: dict[str, str] = {}
        for k, v in self._pairs:
            out[k] = f"{out[k]}, {v}" if k in out else v
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        if isinstance(other, Mapping):
            return self.to_dict() == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class UpstreamRequest:
    """What reached the upstream: the request as the filter let it go on."""

    def __init__(self, method: str, path: str, authority: str, headers: Headers, body: bytes,
                 trailers: Headers | None, complete: bool) -> None:
        self.method = method
        self.path = path
        self.authority = authority
        self.headers = headers
        self.body = body
        self.trailers = trailers
        #: False when the stream was answered or reset before the request ended (Envoy then
        #: resets the upstream request; the upstream did not answer).
        self.complete = complete
        #: the endpoint set with callbacks.set_upstream_override_host, or None
        self.override_host: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return (f"<UpstreamRequest {self.method} {self.path} {len(self.body)} bytes"
                f"{'' if self.complete else ' (incomplete)'}>")


class ClientResponse:
    """What the client got. ``reset``: the stream was reset (after the response headers went
    out, an error cannot be answered with a 500); ``status`` is then what had been sent, if
    anything. ``details``: Envoy's response code details (``via_upstream``, the local reply's
    details, ``envoy_pyext_filter_error`` and the error)."""

    def __init__(self, status: int | None, headers: Headers, body: bytes,
                 trailers: Headers | None, reset: bool, details: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.reset = reset
        self.details = details

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        what = "reset" if self.reset else str(self.status)
        return f"<ClientResponse {what} {len(self.body)} bytes ({self.details})>"


class LocalReply:
    """A reply the stream got from inside Envoy instead of from the upstream: the filter's
    ``send_local_reply`` (``by == "filter"``), the runtime's 500 for an exception
    (``by == "error"``), or Envoy's 500 for a response body buffered beyond the buffer limit
    (``by == "envoy"``). ``headers`` are what the client got."""

    def __init__(self, status: int, headers: Headers, body: bytes, details: str,
                 by: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.details = details
        self.by = by

    def __repr__(self) -> str:
        return f"<LocalReply {self.status} by {self.by} ({self.details}) {self.body[:60]!r}>"


class Result:
    """The outcome of one stream (:meth:`FilterTester.request`)."""

    def __init__(self, client: ClientResponse, upstream: UpstreamRequest | None,
                 local_reply: LocalReply | None, errors: list[HookError], logs: list[LogLine],
                 filter: Filter) -> None:
        self.client = client
        self.upstream = upstream
        self.local_reply = local_reply
        #: exceptions the runtime caught (each logged with its traceback and answered)
        self.errors = errors
        #: lines written with self.callbacks.log (Python's logging goes to logging as usual)
        self.logs = logs
        #: the Filter instance of the stream (destroyed: its views raise, its attributes stay)
        self.filter = filter
        #: the stream's dynamic metadata at its end: {namespace: {key: value}}
        self.metadata: dict[str, dict[str, Any]] = {}
        #: the filter state at the end: bytes values, and Python objects (set_object)
        self.filter_state: dict[str, bytes] = {}
        self.filter_state_objects: dict[str, Any] = {}
        #: every get_property name with its value at the end of the stream (what on_log saw)
        self.properties: dict[str, Any] = {}
        #: routing calls: how often clear_route_cache() was called, the upstream override
        #: host ((host, strict) or None), the response flags added
        self.route_cache_clears = 0
        self.upstream_override_host: tuple[str, bool] | None = None
        self.response_flags: list[str] = []
        #: callbacks.recreate_stream: the headers given (a list of (name, value) str pairs,
        #: empty for "as they are"), or None; FilterTester does not run the recreated stream
        self.recreated: list[tuple[str, str]] | None = None
        #: callbacks.send_go_away_and_close: its `graceful`, or None (the client sees a reset)
        self.go_away: bool | None = None

    @property
    def status(self) -> int | None:
        """The status the client got (None when reset before any response)."""
        return self.client.status

    @property
    def reset(self) -> bool:
        return self.client.reset

    @property
    def error(self) -> BaseException | None:
        """The first exception the runtime caught, or None."""
        return self.errors[0].exception if self.errors else None

    def __repr__(self) -> str:
        errors = "; ".join(f"{e.hook}: {type(e.exception).__name__}: {e.exception}"
                           for e in self.errors)
        return (f"<Result client={self.client!r} upstream={self.upstream!r}"
                f"{' errors=[' + errors + ']' if errors else ''}>")


# ---- the upstream's answer -----------------------------------------------------------------

class Response:
    """An upstream response: ``status``, ``headers``, and a ``body`` (whole) or ``chunks``
    (delivered one by one), and optional ``trailers``. A whole body gets ``content-length``
    unless the headers have it or trailers follow."""

    def __init__(self, status: int = 200, headers: HeadersLike = None,
                 body: bytes | str = b"", *, chunks: Iterable[bytes | str] | None = None,
                 trailers: HeadersLike = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.chunks = None if chunks is None else list(chunks)
        self.trailers = trailers

    @classmethod
    def of(cls, spec: Any) -> Response:
        if isinstance(spec, Response):
            return spec
        if isinstance(spec, int):
            return cls(spec)
        if isinstance(spec, tuple) and 1 <= len(spec) <= 4:
            values: list[Any] = [*spec, *(200, None, b"", None)[len(spec):]]
            status, headers, body, trailers = values
            return cls(status, headers, body if body is not None else b"", trailers=trailers)
        raise TypeError(f"an upstream response is a Response, a status, or a tuple "
                        f"(status, headers, body[, trailers]), not {spec!r}")


Upstream = Union[Response, "tuple[Any, ...]", int, Callable[[UpstreamRequest], Any]]


def echo(request: UpstreamRequest) -> Response:
    """An upstream that answers 200 with the request's body (and its content-type)."""
    headers = {}
    if "content-type" in request.headers:
        headers["content-type"] = request.headers["content-type"]
    return Response(200, headers, request.body)


# ---- fake clusters for http_call --------------------------------------------------------

class CalloutRequest:
    """An ``http_call`` the filter made: ``cluster``, ``method``, ``path``, ``headers`` (with
    ``host`` and ``content-length`` as the runtime adds them), ``body``, ``timeout``."""

    def __init__(self, cluster: str, pairs: list[tuple[bytes, bytes]], body: bytes,
                 timeout: float) -> None:
        self.cluster = cluster
        self.method = ""
        self.path = ""
        rest = []
        for k, v in pairs:
            if k == b":method":
                self.method = v.decode()
            elif k == b":path":
                self.path = v.decode("utf-8", "surrogateescape")
            else:
                rest.append((k, v))
        self.headers = Headers._from_raw(rest)
        self.body = body
        self.timeout = timeout

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<CalloutRequest {self.cluster} {self.method} {self.path}>"


class StreamRequest(CalloutRequest):
    """An ``http_stream`` the filter made: a :class:`CalloutRequest` whose ``body`` grows with
    each ``send``; also ``chunks`` (the pieces sent), ``trailers`` (sent with
    ``send_trailers``), ``complete`` (its request ended) and ``reset`` (the filter left the
    call before its response ended)."""

    def __init__(self, cluster: str, pairs: list[tuple[bytes, bytes]], body: bytes,
                 timeout: float) -> None:
        super().__init__(cluster, pairs, body, timeout)
        self.chunks: list[bytes] = []
        self.trailers: list[tuple[str, str]] = []
        self.complete = False
        self.reset = False

    def __repr__(self) -> str:
        return f"<StreamRequest {self.cluster} {self.method} {self.path}>"


class _Rule:
    def __init__(self, cluster: str, path: str | None, method: str | None, response: Any,
                 delay: float) -> None:
        self.cluster = cluster
        self.path = path
        self.method = method
        self.response = response
        self.delay = delay

    def matches(self, req: CalloutRequest) -> bool:
        if self.path is not None:
            path = req.path if "?" in self.path else req.path.split("?", 1)[0]
            if path != self.path:
                return False
        return self.method is None or self.method.upper() == req.method.upper()

    async def response_spec(self, req: CalloutRequest) -> Any:
        """The answer as the rule gives it (after its delay; a function's result), or its
        exception raised."""
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        spec = self.response
        if callable(spec) and not isinstance(spec, type):
            spec = spec(req)
            if inspect.isawaitable(spec):
                spec = await spec
        if isinstance(spec, BaseException):
            raise copy.copy(spec)  # a fresh one each time: the rule keeps no traceback
        if isinstance(spec, type) and issubclass(spec, BaseException):
            raise spec
        return spec

    async def respond(self, req: CalloutRequest) -> HttpResponse:
        spec = await self.response_spec(req)
        if isinstance(spec, HttpResponse):
            return spec
        r = Response.of(spec)
        body = _body_bytes(r.body if r.chunks is None else b"".join(map(_body_bytes, r.chunks)))
        headers = [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
                   for k, v in _pairs(r.headers)]
        trailers = [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
                    for k, v in _pairs(r.trailers)]
        return HttpResponse(int(r.status), headers, body, trailers)


class Callouts:
    """The clusters ``self.http_call`` and ``self.http_stream`` reach under a FilterTester, and
    the calls made.

        t.callouts.add("authz", "/check", response=(200, {"x-decision": "allow"}, b"{}"))
        t.callouts.add("slow", response=(200, {}, b""), delay=1.0)     # any path
        t.callouts.add("down", error=CalloutResetError("reset", "connection_failure"))
        t.callouts.add("users", response=lambda req: (200, {}, lookup(req.path)))

    ``response`` is what ``request=`` takes for the upstream (a tuple, a Response, an
    HttpResponse, a status) or a function of the :class:`CalloutRequest` returning one (it
    may be ``async``); ``error`` an exception to raise instead. The first rule whose cluster,
    path (None: any; the query string is ignored unless the rule has one) and method match
    answers. A cluster with no rule raises ``ClusterNotFoundError``; a known cluster with no
    matching rule answers 404. ``delay`` seconds pass before the answer; past the call's
    ``timeout`` it raises ``TimeoutError``, as Envoy's router would. ``calls`` lists every
    call made, in order (a :class:`StreamRequest` for an ``http_stream``).

    An ``http_stream`` is answered by the same rules once its request ended (``end_stream``
    or trailers): the function sees the whole request (``req.chunks``, ``req.body``,
    ``req.trailers``); a ``Response(chunks=[...])`` arrives chunk by chunk; an unknown
    cluster ends it with ``ClusterNotFoundError``; past its ``timeout`` it gets Envoy's 504
    "upstream request timeout"; ``req.reset`` says the filter left it before its end."""

    request_class = CalloutRequest

    def __init__(self) -> None:
        self.rules: list[_Rule] = []
        self.calls: list[CalloutRequest] = []

    def add(self, cluster: str, path: str | None = None, *, method: str | None = None,
            response: Any = 200, error: BaseException | type[BaseException] | None = None,
            delay: float = 0.0) -> Callouts:
        self.rules.append(_Rule(cluster, path, method, error if error is not None else response,
                                delay))
        return self

    def find(self, req: CalloutRequest) -> _Rule | None:
        known = False
        for rule in self.rules:
            if rule.cluster == req.cluster:
                known = True
                if rule.matches(req):
                    return rule
        if known:
            return _Rule(req.cluster, None, None, (404, {}, b""), 0.0)
        return None

    def clear(self) -> None:
        self.rules.clear()
        self.calls.clear()


# ---- the tester -----------------------------------------------------------------------------

def load_filter_class(filter_name: str) -> type[Filter]:
    """The class named by ``"package.module:ClassName"`` (Envoy's filter_name), checked as Envoy
    checks it when it loads the configuration (FilterConfigError with the reason)."""
    module_name, sep, class_name = filter_name.partition(":")
    if not sep or not module_name or not class_name:
        raise FilterConfigError(f"envoy-pyext: filter_name {filter_name!r} must name a class "
                                f"as 'package.module:ClassName'")
    module = importlib.import_module(module_name)
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise FilterConfigError(f"envoy-pyext: cannot load filter {filter_name!r}: module "
                                f"{module_name!r} has no attribute {class_name!r}") from None
    return _checked_class(cls, filter_name)


def _checked_class(cls: Any, name: str) -> type[Filter]:
    if not isinstance(cls, type) or not issubclass(cls, Filter):
        raise FilterConfigError(f"envoy-pyext: {name!r} is not a subclass of envoy_pyext.Filter "
                                f"(it is {cls!r})")
    if cls is Filter:
        raise FilterConfigError(f"envoy-pyext: {name!r} is envoy_pyext.Filter itself; name your "
                                f"subclass")
    _checks.check_filter_class(cls, name)
    return cls


def config_string(config: Any) -> str:
    """What parse_config receives for ``config``: a str as is, bytes decoded (UTF-8,
    surrogateescape), None as "", anything else as JSON (as a Struct filter_config arrives)."""
    if config is None:
        return ""
    if isinstance(config, str):
        return config
    if isinstance(config, (bytes, bytearray)):
        return bytes(config).decode("utf-8", "surrogateescape")
    return json.dumps(config)


class TestConfigContext:
    """FilterTester's stand-in for envoy_pyext.ConfigContext: ``spawn`` keeps the coroutine in
    ``spawned`` (a test may run it: ``asyncio.run(t.config_context.spawned[0])``), and
    ``http_call`` raises (config-level calls need Envoy)."""

    is_validation = False

    def __init__(self, filter_name: str) -> None:
        self.filter_name = filter_name
        self.spawned: list[Any] = []
        #: the secrets parse_config subscribed (name -> sds_config)
        self.secrets: dict[str, Any] = {}

    def spawn(self, coro: Any) -> None:
        self.spawned.append(coro)

    def http_call(self, *args: Any, **kwargs: Any) -> Any:
        raise EnvoyPyextError("config-level http_call needs Envoy (not available in FilterTester)")

    def secret(self, name: str, sds_config: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a secret name is a non-empty str, not {name!r}")
        self.secrets[name] = sds_config


class FilterTester:
    """Runs a ``Filter`` subclass without Envoy, with the runtime's semantics.

    filter_class  the class, or ``"package.module:ClassName"`` as in Envoy's ``filter_name``
    config        the ``filter_config``: a str (as a StringValue arrives), or a dict/list (sent
                  as JSON, as a Struct arrives); ``parse_config`` runs once, here. Like Envoy,
                  a class that fails the hook checks or a ``parse_config`` that raises is
                  refused with ``FilterConfigError``.
    upstream      the default upstream answer (see :meth:`request`); default ``(200, {}, b"")``
    timeout       seconds a pending hook (a coroutine, ``RUNNING``) may take before the test
                  fails with :class:`StuckStreamError` (in Envoy the stream would hang)
    buffer_limit  ``self.callbacks.buffer_limit``'s initial value (Envoy's default, 1 MiB)
    worker_index  ``self.callbacks.worker_index``
    properties    values of the stream's properties (get_property names, e.g.
                  ``{"xds.route_name": "api", "source.address": "10.1.2.3:5555"}``, plus
                  ``upstream_host``, ``downstream_direct_remote_address``,
                  ``upstream_hosts_attempted``), over what the tester derives from the request
    metadata      metadata by source: ``{"route": {"acme": {"team": "a"}}, "dynamic": ...,
                  "cluster": ..., "host": ...}`` (``self.metadata.get(..., source=...)``)
    filter_state  filter state set by earlier filters: ``{"key": b"value"}``
    route_config  the per-route ``filter_config`` (a str, or a dict/list as JSON): parsed with
                  ``parse_route_config`` and merged with ``merge_route_config``, it is
                  ``self.route_config`` (None: no per-route config, the default)
    empty_end_chunk  True (default): a body that does not end with trailers ends with an empty
                  chunk with ``end_stream=True`` after its data, as Envoy delivers HTTP/1.1
                  bodies (with or without content-length); False: ``end_stream`` comes with the
                  last chunk (as an HTTP/2 DATA frame with END_STREAM can)

    Settable after construction: ``traced = True`` gives each request a :class:`TestSpan`
    as ``self.span`` (recorded in ``spans``; default: untraced, ``self.span`` is None);
    ``secrets = {"name": b"value"}``: the values of the secrets ``parse_config`` subscribed
    with ``context.secret`` (one not given reads None). Runtime values: see
    :func:`runtime_values`.
    """

    def __init__(self, filter_class: type[Filter] | str, config: Any = "", *,
                 upstream: Upstream = (200, {}, b""), timeout: float = 10.0,
                 buffer_limit: int = 1 << 20, worker_index: int = 0,
                 empty_end_chunk: bool = True, name: str | None = None,
                 properties: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None,
                 filter_state: dict[str, bytes | str] | None = None,
                 route_config: Any = None) -> None:
        if isinstance(filter_class, str):
            cls = load_filter_class(filter_class)
            name = name or filter_class
        else:
            name = name or f"{filter_class.__module__}:{filter_class.__qualname__}"
            cls = _checked_class(filter_class, name)
        self.filter_class = cls
        self.name = name
        raw = config_string(config)
        #: what parse_config(cls, raw, context) gets: a TestConfigContext (spawned coroutines
        #: are kept in .spawned, not run; http_call is not available without Envoy)
        self.config_context = TestConfigContext(name)
        parse_config: Any = cls.parse_config  # (the stub declares parse_config(raw) only)
        try:
            if _checks.takes_context(parse_config):
                parsed = parse_config(raw, self.config_context)
            else:
                parsed = parse_config(raw)
        except Exception as e:
            raise FilterConfigError(f"envoy-pyext: {name}: parse_config rejected the "
                                    f"filter_config: {type(e).__name__}: {e}") from e
        self._fc = StreamConfig(name, cls, parsed)
        #: what parse_config returned (self.config in the hooks)
        self.config = parsed
        self.upstream = upstream
        self.timeout = timeout
        self.buffer_limit = buffer_limit
        self.worker_index = worker_index
        self.empty_end_chunk = empty_end_chunk
        #: the Envoy context of every request (each request(...) may add to it)
        self.properties = check_properties(properties)
        self.metadata = metadata or {}
        check_metadata(self.metadata)
        self.filter_state = dict(filter_state or {})
        self.route_config = route_config
        self._route_configs: dict[str, Any] = {}
        self._connections = itertools.count(1)
        #: the metrics the filter recorded (all streams of this tester, as Envoy's stats)
        self.metrics = Metrics()
        self.metrics.declared = metrics_of(cls, name)
        #: the fake clusters of http_call, and the calls made
        self.callouts = Callouts()
        #: tracing: True gives every request a TestSpan (self.span), kept in ``spans``
        self.traced = False
        self.spans: list[TestSpan] = []
        #: the values of the secrets parse_config subscribed (name -> bytes or str; a
        #: subscribed secret not here reads None, as one Envoy has not delivered)
        self.secrets: dict[str, bytes | str] = {}

    # -- one stream --
    def request(self, method: str = "GET", path: str = "/", headers: HeadersLike = None,
                body: bytes | str | None = None, *,
                chunks: Iterable[bytes | str] | None = None, trailers: HeadersLike = None,
                authority: str = "localhost", response: Upstream | None = None,
                empty_end_chunk: bool | None = None,
                properties: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None,
                filter_state: dict[str, bytes | str] | None = None,
                route_config: Any = _UNSET) -> Result:
        """Sends one request through the filter and returns the :class:`Result`.

        headers   a dict or (name, value) pairs; ``host`` sets ``:authority``
        body      the whole body (``content-length`` is added, unless trailers follow);
        chunks    or the body as chunks, delivered one by one (no ``content-length``)
        trailers  request trailers (the body then ends with them)
        response  the upstream's answer: a :class:`Response`, a status, a tuple
                  ``(status, headers, body[, trailers])``, or a function of the
                  :class:`UpstreamRequest` returning one (e.g. :func:`echo`); default: the
                  tester's ``upstream``
        empty_end_chunk  overrides the tester's setting for this request
        properties, metadata, filter_state, route_config  this request's Envoy context, over
                  the tester's (see FilterTester)
        """
        if body is not None and chunks is not None:
            raise TypeError("pass body= or chunks=, not both")
        parts = [_body_bytes(c) for c in chunks] if chunks is not None else \
            ([_body_bytes(body)] if body else [])
        context = {
            "properties": {**self.properties, **check_properties(properties)},
            "metadata": _merge_metadata(self.metadata, metadata),
            "filter_state": {**self.filter_state, **(filter_state or {})},
            "metrics": self.metrics,
            "route_config": self._route_config(self.route_config if route_config is _UNSET
                                               else route_config),
            "connection_id": next(self._connections),
            "secrets": (self.config_context.secrets, self.secrets),
        }
        if self.traced:
            self.spans.append(TestSpan())
            context["span"] = self.spans[-1]
        st = TestStream(self._fc, timeout=self.timeout, buffer_limit=self.buffer_limit,
                        worker_index=self.worker_index, callouts=self.callouts, context=context)
        st.empty_end_chunk = self.empty_end_chunk if empty_end_chunk is None \
            else empty_end_chunk
        upstream = response if response is not None else self.upstream
        box: dict[str, Any] = {}

        def worker() -> None:
            # The stream runs on its own thread, as on an Envoy worker: hooks never run on the
            # caller's thread (whose frames would then be kept alive by a caught exception's
            # traceback, together with the Result holding it).
            st.tid = threading.get_ident()
            try:
                box["filter"] = self._new_filter(st)
                self._run(st, method, path, authority, headers, parts, chunks is None and body,
                          trailers, upstream)
            except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
                box["error"] = e
            finally:
                if st.pend is not None:
                    st.abandon()

        thread = threading.Thread(target=worker, name="envoy-pyext-tester-worker")
        thread.start()
        thread.join()
        if "error" in box:
            error = box.pop("error")
            box.clear()
            st.filter = None
            try:
                raise error
            finally:
                error = None
        return self._finish(st, box.pop("filter"))

    def _finish(self, st: TestStream, f: Filter) -> Result:
        result = self._result(st, f)
        # No reference cycle through the Filter: it is freed with the Result.
        st.filter = None
        st.errors = []
        return result

    def _route_config(self, raw: Any) -> Any:
        """self.route_config for a per-route filter_config (cached per config, as Envoy
        parses each once), or None."""
        if raw is None:
            return None
        text = config_string(raw)
        if text not in self._route_configs:
            cls: Any = self._fc.cls
            try:
                parsed = cls.parse_route_config(text)
            except Exception as e:
                raise FilterConfigError(f"envoy-pyext: {self.name}: parse_route_config rejected "
                                        f"the per-route filter_config: {type(e).__name__}: "
                                        f"{e}") from e
            self._route_configs[text] = cls.merge_route_config(self.config, parsed)
        return self._route_configs[text]

    def _new_filter(self, st: TestStream) -> Filter:
        cls: Any = self._fc.cls
        obj: Any = cls.__new__(cls)
        _bind_test_stream(obj, st)
        st.filter = obj
        if self._fc.has_init:
            try:
                st.ctx.run(obj.__init__)
            except BaseException as e:  # noqa: BLE001  (as native/config.pxi: answered later)
                st.init_error = e  # the request headers answer it (500), as in Envoy
        return obj  # type: ignore[no-any-return]

    def _run(self, st: TestStream, method: str, path: str, authority: str, headers: HeadersLike,
             parts: list[bytes], whole: Any, trailers: HeadersLike, upstream: Upstream) -> None:
        req_pairs = [(b":authority", header_value(authority)), (b":path", header_value(path)),
                     (b":method", header_value(method)), (b":scheme", b"http")]
        user = _pairs(headers)
        for k, v in user:
            if k == b"host":
                req_pairs[0] = (b":authority", v)
        req_pairs += [(k, v) for k, v in user if k != b"host"]
        names = {k for k, _ in req_pairs}
        trailer_pairs = _pairs(trailers) if trailers is not None else None
        if whole and trailer_pairs is None and b"content-length" not in names \
                and b"transfer-encoding" not in names:
            req_pairs.append((b"content-length", str(len(parts[0])).encode()))
        if b"x-forwarded-proto" not in names:
            req_pairs.append((b"x-forwarded-proto", b"http"))
        if b"x-request-id" not in names:
            req_pairs.append((b"x-request-id", str(uuid.uuid4()).encode()))
        try:
            self._direction(st, REQUEST, req_pairs, parts, trailer_pairs)
            if st.envoy_response is not None:
                # Envoy answered (413 over the buffer limit): its reply passes the encode hooks.
                status, pairs, body, details = st.envoy_response
                st.client_details = details
                st.empty_end_chunk = False
                self._direction(st, RESPONSE, [(b":status", str(status).encode()), *pairs],
                                [body], None)
            elif not st.closed and not st.client_reset:
                req = self._upstream_request(st)
                if not req.complete:
                    raise AssertionError(
                        f"envoy-pyext testing: the request never ended upstream although the "
                        f"filter {self.name} did not answer it: in Envoy the stream would hang "
                        f"(please report this)")
                resp = _upstream_response(upstream, req)
                rbody = [_body_bytes(c) for c in resp.chunks] if resp.chunks is not None else \
                    ([_body_bytes(resp.body)] if resp.body else [])
                rpairs = [(b":status", str(int(resp.status)).encode()), *_pairs(resp.headers)]
                rnames = {k for k, _ in rpairs}
                rtrailers = _pairs(resp.trailers) if resp.trailers is not None else None
                if resp.chunks is None and rbody and rtrailers is None \
                        and b"content-length" not in rnames \
                        and b"transfer-encoding" not in rnames:
                    rpairs.append((b"content-length", str(len(rbody[0])).encode()))
                st.client_details = "via_upstream"
                self._direction(st, RESPONSE, rpairs, rbody, rtrailers)
        finally:
            st.complete()
            st.destroy()

    @staticmethod
    def _direction(st: TestStream, side: int, pairs: list[tuple[bytes, bytes]],
                   parts: list[bytes], trailers: list[tuple[bytes, bytes]] | None) -> None:
        st.maps[HT_REQUEST_HEADERS if side == REQUEST else HT_RESPONSE_HEADERS] = \
            [[k, v] for k, v in pairs]
        st.envoy_headers(side, not parts and trailers is None)
        if parts and trailers is None and st.empty_end_chunk and parts[-1]:
            parts = [*parts, b""]
        for i, chunk in enumerate(parts):
            if st.closed or st.client_reset or st.sides[side].overflowed:
                return
            st.envoy_data(side, chunk, i == len(parts) - 1 and trailers is None)
        if trailers is not None and not (st.closed or st.client_reset
                                         or st.sides[side].overflowed):
            st.envoy_trailers(side, [[k, v] for k, v in trailers])

    @staticmethod
    def _upstream_request(st: TestStream) -> UpstreamRequest:
        sd = st.sides[REQUEST]
        raw = sd.sent_headers or []
        pseudo = {k: v.decode("utf-8", "surrogateescape") for k, v in raw if k.startswith(b":")}
        return UpstreamRequest(
            pseudo.get(b":method", ""), pseudo.get(b":path", ""), pseudo.get(b":authority", ""),
            Headers._from_raw(raw), bytes(sd.sent_body),
            Headers._from_raw(sd.sent_trailers) if sd.sent_trailers is not None else None,
            sd.sent_end)

    def _result(self, st: TestStream, f: Filter) -> Result:
        req = st.sides[REQUEST]
        upstream = self._upstream_request(st) if req.sent_headers is not None else None
        local = None
        if st.local_reply is not None:
            status, headers, body, details, by = st.local_reply
            local = LocalReply(status, Headers._from_raw(headers), body, details, by)
        resp = st.sides[RESPONSE]
        if local is not None and not st.client_reset:
            client = ClientResponse(local.status, local.headers, local.body, None, False,
                                    local.details)
        else:
            raw = resp.sent_headers or []
            sent = next((int(v) for k, v in raw if k == b":status"), None)
            client = ClientResponse(
                sent, Headers._from_raw(raw), bytes(resp.sent_body),
                Headers._from_raw(resp.sent_trailers) if resp.sent_trailers is not None else None,
                st.client_reset or (sent is not None and not resp.sent_end),
                st.client_details)
        result = Result(client, upstream, local, list(st.errors), list(st.logs), f)
        result.metadata = {ns: dict(v) for ns, v in st.metadata_store["dynamic"].items()}
        result.filter_state = dict(st.filter_state_values)
        result.filter_state_objects = dict(st.filter_state_objects)
        result.properties = {name: st.attributes.get(name) for name in sorted(PROPERTY_NAMES)}
        result.route_cache_clears = st.route_cache_clears
        result.upstream_override_host = st.override_host
        result.response_flags = list(st.response_flags)
        if st.recreated is not None:
            result.recreated = [(k.decode("latin-1"), v.decode("latin-1"))
                                for k, v in st.recreated]
        result.go_away = st.go_away
        if upstream is not None:
            upstream.override_host = st.override_host[0] if st.override_host else None
        return result

    # -- shortcuts --
    def get(self, path: str = "/", **kwargs: Any) -> Result:
        return self.request("GET", path, **kwargs)

    def post(self, path: str = "/", body: bytes | str | None = None, **kwargs: Any) -> Result:
        return self.request("POST", path, body=body, **kwargs)


def _merge_metadata(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    out = {src: {ns: dict(v) for ns, v in spaces.items()} for src, spaces in base.items()}
    for src, spaces in (extra or {}).items():
        for ns, values in spaces.items():
            out.setdefault(src, {}).setdefault(ns, {}).update(values)
    return out


def _body_bytes(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _pairs(headers: HeadersLike) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(header_name(k), header_value(v)) for k, v in items]


def _upstream_response(upstream: Upstream, req: UpstreamRequest) -> Response:
    spec: Any = upstream
    if callable(spec) and not isinstance(spec, (Response, tuple, int)):
        spec = spec(req)
        if inspect.isawaitable(spec):
            raise TypeError("an upstream function must not be async")
    return Response.of(spec)

