# envoy-pyext: Apache-2.0
"""The Envoy context under FilterTester (private): stream info and properties, metadata,
filter state, metrics and per-route configuration, kept in memory with the runtime's
validation and messages (native/streaminfo.pxi, metadata.pxi, filterstate.pxi, metrics.pxi,
routing.pxi). The values a real Envoy would report come from the simulated stream, and a test
sets the others (``FilterTester(properties=..., metadata=..., filter_state=...)``)."""

from __future__ import annotations

import datetime
import ipaddress
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from ._native import (
    EnvoyPyextError,
    FilterConfigError,
    FilterState,
    Metadata,
    StreamInfo,
    TlsInfo,
)

if TYPE_CHECKING:
    from ._teststream import TestStream

# Every name get_property answers (native/streaminfo.pxi _PROPS; tests/unit/test_testing_context
# checks the list against the runtime's).
PROPERTY_NAMES = frozenset({
    "request.path", "request.url_path", "request.host", "request.scheme", "request.method",
    "request.referer", "request.useragent", "request.time", "request.id", "request.protocol",
    "request.query", "request.duration", "request.size", "request.total_size",
    "response.code", "response.code_details", "response.flags", "response.grpc_status",
    "response.size", "response.total_size",
    "source.address", "source.port", "destination.address", "destination.port",
    "connection.id", "connection.mtls", "connection.requested_server_name",
    "connection.tls_version", "connection.subject_local_certificate",
    "connection.subject_peer_certificate", "connection.dns_san_local_certificate",
    "connection.dns_san_peer_certificate", "connection.uri_san_local_certificate",
    "connection.uri_san_peer_certificate", "connection.sha256_peer_certificate_digest",
    "connection.transport_failure_reason", "connection.termination_details",
    "upstream.address", "upstream.port", "upstream.tls_version",
    "upstream.subject_local_certificate", "upstream.subject_peer_certificate",
    "upstream.dns_san_local_certificate", "upstream.dns_san_peer_certificate",
    "upstream.uri_san_local_certificate", "upstream.uri_san_peer_certificate",
    "upstream.sha256_peer_certificate_digest", "upstream.local_address",
    "upstream.transport_failure_reason", "upstream.request_attempt_count",
    "upstream.requested_server_name",
    "xds.cluster_name", "xds.listener_direction", "xds.route_name", "xds.virtual_host_name",
    "xds.filter_chain_name", "xds.virtual_cluster_name", "health_check",
})
# StreamInfo values that are not properties, settable under these names.
EXTRA_NAMES = frozenset({"downstream_direct_remote_address", "upstream_host",
                         "upstream_hosts_attempted"})

DEFAULTS: dict[str, Any] = {
    "request.protocol": "HTTP/1.1",
    "source.address": "127.0.0.1:54321", "destination.address": "127.0.0.1:10000",
    "xds.cluster_name": "upstream", "health_check": False,
}
UPSTREAM_ADDRESS = "127.0.0.1:8080"
UPSTREAM_LOCAL_ADDRESS = "127.0.0.1:41000"


def check_properties(values: dict[str, Any] | None) -> dict[str, Any]:
    values = dict(values or {})
    for name in values:
        if name not in PROPERTY_NAMES and name not in EXTRA_NAMES:
            raise ValueError(f"unknown property {name!r}: a get_property name "
                             f"({', '.join(sorted(PROPERTY_NAMES))}) or one of "
                             f"{', '.join(sorted(EXTRA_NAMES))}")
    return values


def _port(address: str | None) -> int | None:
    if not address or ":" not in address:
        return None
    port = address.rsplit(":", 1)[1]
    return int(port) if port.isdigit() else None


class Attributes:
    """The values Envoy would report for a TestStream, overridable by the test."""

    def __init__(self, stream: TestStream, overrides: dict[str, Any]) -> None:
        self.stream = stream
        self.overrides = overrides
        self.start = datetime.datetime.now(datetime.timezone.utc)
        self._started = time.monotonic()
        self.duration: float | None = None
        self.request_bytes = 0
        self.response_bytes = 0

    def finish(self) -> None:
        """The stream completed (before on_log): its duration is known from now on."""
        if self.duration is None:
            self.duration = time.monotonic() - self._started

    def _header(self, htype: int, name: bytes) -> str | None:
        m = self.stream.maps[htype]
        for k, v in m or ():
            if k == name:
                return v.decode("utf-8", "surrogateescape")
        return None

    def get(self, key: str) -> Any:
        if key in self.overrides:
            return self.overrides[key]
        if key in DEFAULTS:
            return DEFAULTS[key]
        fn = _COMPUTED.get(key)
        if fn is not None:
            return fn(self)
        if key in ("source.port", "destination.port", "upstream.port"):
            return _port(self.get(key.split(".")[0] + ".address"))
        return None  # TLS, xds names, failure reasons: unset unless the test sets them

    # -- what the simulated stream says --
    def upstream(self) -> bool:
        return self.stream.sides[0].sent_headers is not None

    def path(self) -> str | None:
        return self._header(0, b":path")

    def status(self) -> int | None:
        status = self._header(2, b":status")
        if status is not None:
            return int(status)
        reply = self.stream.local_reply
        return reply[0] if reply is not None else None


def _headers_size(m: list[list[bytes]] | None) -> int:
    return sum(len(k) + len(v) for k, v in m or ())


def get_property(stream: TestStream, path: Any, default: Any) -> Any:
    if not isinstance(path, str):
        raise TypeError(f"path must be str, not {type(path).__name__}")
    if path not in PROPERTY_NAMES:
        raise ValueError(
            f"unknown property {path!r}: Envoy 1.40's ABI answers these: "
            f"{', '.join(sorted(PROPERTY_NAMES))} (read headers through the header maps and "
            f"metadata through self.metadata)")
    stream.access()
    value = stream.attributes.get(path)
    if value is None and path == "connection.mtls":
        return False
    return default if value is None else value


def _nonempty(s: Any) -> Any:
    return s if s else None


class TestTlsInfo(TlsInfo):
    """TlsInfo from the connection.* properties (native/streaminfo.pxi _tls_info)."""

    __slots__ = ("_v",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._v = values

    sni = property(lambda self: self._v["sni"])
    version = property(lambda self: self._v["version"])
    peer_subject = property(lambda self: self._v["peer_subject"])
    local_subject = property(lambda self: self._v["local_subject"])
    peer_uri_sans = property(lambda self: self._v["peer_uri_sans"])
    peer_dns_sans = property(lambda self: self._v["peer_dns_sans"])
    sha256_peer_certificate_digest = property(
        lambda self: self._v["sha256_peer_certificate_digest"])
    peer_certificate_presented = property(
        lambda self: self._v["peer_certificate_presented"])
    peer_certificate_validated = property(
        lambda self: None)


def tls_info(stream: TestStream) -> TlsInfo | None:
    a = stream.attributes
    version = a.get("connection.tls_version")
    if not version:
        return None
    uri = a.get("connection.uri_san_peer_certificate")
    dns = a.get("connection.dns_san_peer_certificate")
    peer = _nonempty(a.get("connection.subject_peer_certificate"))
    return TestTlsInfo({
        "version": version,
        "sni": _nonempty(a.get("connection.requested_server_name")),
        "peer_subject": peer,
        "local_subject": _nonempty(a.get("connection.subject_local_certificate")),
        "peer_uri_sans": [uri] if uri else [],
        "peer_dns_sans": [dns] if dns else [],
        "sha256_peer_certificate_digest": _nonempty(
            a.get("connection.sha256_peer_certificate_digest")),
        "peer_certificate_presented": bool(a.get("connection.mtls")) or peer is not None,
    })


class TestStreamInfo(StreamInfo):
    """self.stream_info of a TestStream (native/streaminfo.pxi StreamInfo)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TestStream) -> None:
        self._stream = stream

    def _get(self, key: str) -> Any:
        self._stream.access()
        return self._stream.attributes.get(key)

    route_name = property(lambda self: _nonempty(self._get("xds.route_name")))
    virtual_host_name = property(lambda self: _nonempty(self._get("xds.virtual_host_name")))
    cluster_name = property(lambda self: _nonempty(self._get("xds.cluster_name")))
    protocol = property(lambda self: self._get("request.protocol"))
    response_code = property(lambda self: self._get("response.code"))
    response_code_details = property(lambda self: self._get("response.code_details"))
    response_flags = property(lambda self: self._get("response.flags") or 0)
    request_id = property(lambda self: self._get("request.id"))
    connection_id = property(lambda self: self._get("connection.id"))
    downstream_remote_address = property(lambda self: self._get("source.address"))
    downstream_local_address = property(lambda self: self._get("destination.address"))
    downstream_direct_remote_address = property(
        lambda self: self._get("downstream_direct_remote_address"))
    upstream_host = property(lambda self: self._get("upstream_host"))
    upstream_local_address = property(lambda self: self._get("upstream.local_address"))
    upstream_hosts_attempted = property(
        lambda self: list(self._get("upstream_hosts_attempted") or ()))
    attempt_count = property(lambda self: self._get("upstream.request_attempt_count") or 0)
    worker_index = property(lambda self: self._stream.worker_index)
    bytes_received = property(lambda self: self._get("request.size") or 0)
    bytes_sent = property(lambda self: self._get("response.size") or 0)
    start_time = property(lambda self: self._get("request.time"))
    duration = property(lambda self: (lambda d: None if d is None else d.total_seconds())(
        self._get("request.duration")))

    @property
    def tls(self) -> TlsInfo | None:
        self._stream.access()
        return tls_info(self._stream)

    def __repr__(self) -> str:
        return "<StreamInfo>"


# ---- metadata ------------------------------------------------------------------------------

SOURCES = ("dynamic", "route", "cluster", "host", "host_locality")
_TYPES = {str: "str", float: "num", int: "num", bool: "bool", list: "list"}


def _kind(v: Any) -> str | None:
    if v is True or v is False:
        return "bool"
    if isinstance(v, str):
        return "str"
    if isinstance(v, float):
        return "num"
    if isinstance(v, list):
        return "list"
    return None  # None, a dict: not readable through Envoy 1.40's ABI


def normalize(v: Any, depth: int = 0) -> Any:
    """A metadata value as it is stored (numbers are protobuf doubles); TypeError/ValueError as
    the runtime's Struct encoder raises them."""
    if depth > 32:
        raise ValueError("metadata value nested too deeply (more than 32 levels)")
    if v is None or v is True or v is False or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeError(f"the metadata key must be a str, not {type(k).__name__}")
            out[k] = normalize(x, depth + 1)
        return out
    if isinstance(v, (list, tuple)):
        return [normalize(x, depth + 1) for x in v]
    raise TypeError(f"a metadata value is str, int, float, bool, None, a list or a dict of "
                    f"them, not {type(v).__name__}")


def check_metadata(spec: dict[str, Any] | None) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SOURCES}
    for source, namespaces in (spec or {}).items():
        if source not in SOURCES:
            raise ValueError(f"unknown metadata source {source!r}: one of {', '.join(SOURCES)}")
        for ns, values in namespaces.items():
            out[source][ns] = {k: normalize(v) for k, v in values.items()}
    return out


def _str_arg(s: Any, what: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"the metadata {what} must be a str, not {type(s).__name__}")
    return s


def _source(source: Any) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown metadata source {source!r}: one of {', '.join(SOURCES)}")
    return str(source)


class TestMetadata(Metadata):
    """self.metadata of a TestStream (native/metadata.pxi Metadata)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TestStream) -> None:
        self._stream = stream

    def _readable(self) -> dict[str, dict[str, dict[str, Any]]]:
        st = self._stream
        st.access()
        if st.off_worker():
            raise EnvoyPyextError(
                "self.metadata can be read on the Envoy worker only (a sync hook, on_log, or an "
                "async hook before it waits on something); read it there and keep the value")
        return st.metadata_store

    def _space(self, source: str) -> dict[str, dict[str, Any]]:
        store = self._readable()
        if source in ("host", "host_locality") and self._stream.sides[0].sent_headers is None:
            return {}  # no upstream host chosen yet
        return store[source]

    def get(self, namespace: Any, key: Any, default: Any = None, source: Any = "dynamic",
            type: Any = None) -> Any:  # noqa: A002  (the runtime's keyword)
        src = _source(source)
        ns, k = _str_arg(namespace, "namespace"), _str_arg(key, "key")
        if type is not None and type not in _TYPES:
            raise ValueError(f"type must be str, float, bool or list, not {type!r}")
        value = self._space(src).get(ns, {}).get(k, _MISSING)
        kind = _kind(value) if value is not _MISSING else None
        if kind is None or (type is not None and _TYPES[type] != kind):
            return default
        if kind == "list":
            return [x for x in value if _kind(x) in ("str", "num", "bool")]
        return int(value) if type is int else value

    def set(self, namespace: Any, key: Any, value: Any) -> None:
        ns, k = _str_arg(namespace, "namespace"), _str_arg(key, "key")
        stored = normalize(value)
        st = self._stream
        st.access()
        st.metadata_store["dynamic"].setdefault(ns, {})[k] = stored

    def namespaces(self, source: Any = "dynamic") -> list[str]:
        return list(self._space(_source(source)))

    def keys(self, namespace: Any, source: Any = "dynamic") -> list[str]:
        return list(self._space(_source(source)).get(namespace, {}))

    def __repr__(self) -> str:
        return "<Metadata>"


_MISSING = object()

# ---- filter state --------------------------------------------------------------------------

LIFE_SPANS = ("filter_chain", "request", "connection")


def _fs_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"a filter state key is a non-empty str, not {key!r}")
    return key


def _life_span(life_span: Any) -> str:
    if life_span not in LIFE_SPANS:
        raise ValueError(f"unknown life_span {life_span!r}: one of {', '.join(LIFE_SPANS)}")
    return str(life_span)


class TestFilterState(FilterState):
    """self.filter_state of a TestStream (native/filterstate.pxi FilterState): bytes values
    (``values``) and Python objects (``objects``), each key with its life span."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TestStream) -> None:
        self._stream = stream

    def _read(self) -> None:
        st = self._stream
        st.access()
        if st.off_worker():
            raise EnvoyPyextError(
                "self.filter_state can be read on the Envoy worker only (a sync hook, on_log, or "
                "an async hook before it waits on something); read it there and keep the value")

    def _write(self, key: str, span: str, what: str) -> None:
        st = self._stream
        st.access()
        old = st.filter_state_spans.get(key)
        if old is not None and old != span:
            raise EnvoyPyextError(f"Envoy refused to set filter state{what} {key!r} (an "
                                  f"existing read-only entry, or one of another life span)")
        st.filter_state_spans[key] = span

    def set(self, key: Any, value: Any, life_span: Any = "request") -> None:
        k = _fs_key(key)
        span = _life_span(life_span)
        if isinstance(value, str):
            v = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            v = bytes(value)
        else:
            raise TypeError(f"filter state values are bytes or str, not {type(value).__name__} "
                            f"(use set_object for other Python objects)")
        self._write(k, span, "")
        self._stream.filter_state_values[k] = v
        self._stream.filter_state_objects.pop(k, None)

    def get(self, key: Any, default: Any = None) -> Any:
        k = _fs_key(key)
        self._read()
        return self._stream.filter_state_values.get(k, default)

    def __contains__(self, key: Any) -> bool:
        k = _fs_key(key)
        self._read()
        return k in self._stream.filter_state_values or k in self._stream.filter_state_objects

    def set_object(self, key: Any, obj: Any, life_span: Any = "request") -> None:
        k = _fs_key(key)
        span = _life_span(life_span)
        self._write(k, span, " object")
        self._stream.filter_state_objects[k] = obj
        self._stream.filter_state_values.pop(k, None)

    def get_object(self, key: Any, default: Any = None) -> Any:
        k = _fs_key(key)
        self._read()
        return self._stream.filter_state_objects.get(k, default)

    def __repr__(self) -> str:
        return "<FilterState>"


# ---- metrics -------------------------------------------------------------------------------

def metric_kind(m: Any) -> str:
    for name in ("Counter", "Gauge", "Histogram"):
        if type(m).__name__ == name or any(k.__name__ == name for k in type(m).__mro__):
            return name
    raise TypeError(f"not a metric: {m!r}")


def metrics_of(cls: type, filter_name: str) -> dict[str, Any]:
    """The metrics declared on `cls` by name; two of one name with different kinds or labels
    reject the configuration (native/metrics.pxi _metrics_define)."""
    from ._native import Counter, Gauge, Histogram

    by_name: dict[str, Any] = {}
    for klass in cls.__mro__:
        for value in list(vars(klass).values()):
            if not isinstance(value, (Counter, Gauge, Histogram)):
                continue
            other = by_name.get(value.name)
            if other is not None and other is not value and (
                    metric_kind(other) != metric_kind(value) or other.labels != value.labels):
                raise FilterConfigError(f"envoy-pyext: {filter_name}: two metrics are named "
                                        f"{value.name!r} ({other!r}, {value!r})")
            by_name.setdefault(value.name, value)
    return by_name


def _label_values(m: Any, labels: dict[str, Any]) -> tuple[str, ...]:
    kind = metric_kind(m)
    if len(labels) != len(m.labels) or any(k not in labels for k in m.labels):
        raise ValueError(
            f"{kind} {m.name!r} takes the labels {', '.join(m.labels) or '(none)'}"
            f"; got {', '.join(sorted(labels)) or '(none)'}")
    out = []
    for k in m.labels:
        v = labels[k]
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v))
        else:
            raise TypeError(f"label {k!r} of {m.name!r} must be a str or an int, not "
                            f"{type(v).__name__}")
    return tuple(out)


def _amount(value: Any, allow_float: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not allow_float):
        raise TypeError(f"a metric amount is a non-negative int"
                        f"{' or float' if allow_float else ''}, not {type(value).__name__}")
    if value != value or value < 0 or value >= 2 ** 64:
        raise ValueError(f"a metric amount must be in 0 .. 2**64-1, not {value!r}")
    return int(round(value))


class Metrics:
    """The metrics a FilterTester's filter recorded (all its streams, as Envoy's stats do):

        t.metrics.value("requests_total", route="api", code="200")   # a counter or gauge
        t.metrics.records("latency_ms", route="api")                # a histogram's values

    Label values are compared as the strings Envoy gets (an int label 200 is "200")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[str, ...]], int] = {}
        self.gauges: dict[tuple[str, tuple[str, ...]], int] = {}
        self.histograms: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        self.declared: dict[str, Any] = {}

    def _key(self, name: str, labels: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        m = self.declared.get(name)
        if m is None:
            raise KeyError(f"no metric named {name!r} on the filter class "
                           f"(declared: {', '.join(sorted(self.declared)) or 'none'})")
        return name, _label_values(m, labels)

    def value(self, name: str, **labels: Any) -> int:
        """A counter's or gauge's value for these label values (0 if never updated)."""
        key = self._key(name, labels)
        return self.counters.get(key, self.gauges.get(key, 0))

    def records(self, name: str, **labels: Any) -> list[int]:
        """The values a histogram recorded for these label values, in order."""
        return list(self.histograms.get(self._key(name, labels), []))

    def update(self, m: Any, op: str, amount: int, values: tuple[str, ...]) -> None:
        key = (m.name, values)
        with self._lock:
            kind = metric_kind(m)
            if kind == "Counter":
                self.counters[key] = self.counters.get(key, 0) + amount
            elif kind == "Histogram":
                self.histograms.setdefault(key, []).append(amount)
            elif op == "set":
                self.gauges[key] = amount
            else:
                value = self.gauges.get(key, 0) + (amount if op == "inc" else -amount)
                self.gauges[key] = value % (2 ** 64)  # Envoy gauges are unsigned


class TestBoundMetric:
    """``self.<metric>`` of a Filter under FilterTester (native/metrics.pxi _BoundMetric)."""

    __slots__ = ("_m", "_stream")

    def __init__(self, m: Any, stream: TestStream) -> None:
        self._m = m
        self._stream = stream

    def _update(self, op: str, value: Any, labels: dict[str, Any]) -> None:
        kind = metric_kind(self._m)
        amount = _amount(value, kind == "Histogram")
        values = _label_values(self._m, labels)
        self._stream.access()
        if self._m.name not in self._stream.metrics.declared:
            raise EnvoyPyextError(f"{kind} {self._m.name!r} is not defined for this filter "
                                  f"configuration (declare it on the Filter class; not in "
                                  f"Envoy?)")
        self._stream.metrics.update(self._m, op, amount, values)

    def inc(self, n: Any = 1, /, **labels: Any) -> None:
        if metric_kind(self._m) == "Histogram":
            raise AttributeError("'BoundHistogram' object has no attribute 'inc'")
        self._update("inc", n, labels)

    def dec(self, n: Any = 1, /, **labels: Any) -> None:
        if metric_kind(self._m) != "Gauge":
            raise AttributeError(f"'Bound{metric_kind(self._m)}' object has no attribute 'dec'")
        self._update("dec", n, labels)

    def set(self, value: Any, /, **labels: Any) -> None:
        if metric_kind(self._m) != "Gauge":
            raise AttributeError(f"'Bound{metric_kind(self._m)}' object has no attribute 'set'")
        self._update("set", value, labels)

    def record(self, value: Any, /, **labels: Any) -> None:
        if metric_kind(self._m) != "Histogram":
            raise AttributeError(
                f"'Bound{metric_kind(self._m)}' object has no attribute 'record'")
        self._update("record", value, labels)

    def __repr__(self) -> str:
        return f"<bound {self._m!r}>"


# ---- routing -------------------------------------------------------------------------------

def check_override_host(host: Any) -> str:
    """native/routing.pxi _set_upstream_override_host's validation."""
    if not isinstance(host, str):
        raise TypeError(f"the host is an 'ip:port' str, not {type(host).__name__}")
    addr, sep, port = host.rpartition(":")
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError
        ipaddress.ip_address(addr[1:len(addr) - 1] if addr.startswith("[") and addr.endswith("]")
                             else addr)
    except ValueError:
        raise ValueError(f"invalid upstream host {host!r}: an 'ip:port' (IPv6: '[ip]:port')") \
            from None
    return host


def check_flag(flag: Any) -> str:
    if not isinstance(flag, str) or not flag or any(c.isspace() for c in flag):
        raise ValueError(f"a response flag is a non-empty str without whitespace, not {flag!r}")
    return flag



def _query(a: Attributes) -> str | None:
    path = a.path()
    if path is None:
        return None
    return path.split("?", 1)[1] if "?" in path else ""


_COMPUTED: dict[str, Any] = {
    "request.path": Attributes.path,
    "request.url_path": lambda a: None if a.path() is None else a.path().split("?", 1)[0],
    "request.query": _query,
    "request.host": lambda a: a._header(0, b":authority"),
    "request.scheme": lambda a: a._header(0, b":scheme"),
    "request.method": lambda a: a._header(0, b":method"),
    "request.referer": lambda a: a._header(0, b"referer"),
    "request.useragent": lambda a: a._header(0, b"user-agent"),
    "request.id": lambda a: a._header(0, b"x-request-id"),
    "request.time": lambda a: a.start,
    "request.duration": lambda a: None if a.duration is None
    else datetime.timedelta(seconds=a.duration),
    "request.size": lambda a: a.request_bytes,
    "request.total_size": lambda a: a.request_bytes + _headers_size(a.stream.maps[0])
    + _headers_size(a.stream.maps[1]),
    "response.code": Attributes.status,
    "response.code_details": lambda a: a.stream.client_details or None,
    "response.flags": lambda a: 0,
    "response.size": lambda a: a.response_bytes,
    "response.total_size": lambda a: a.response_bytes + _headers_size(a.stream.maps[2])
    + _headers_size(a.stream.maps[3]),
    "connection.id": lambda a: a.stream.connection_id,
    "upstream.address": lambda a: a.get("upstream_host") if a.upstream() else None,
    "upstream.local_address": lambda a: UPSTREAM_LOCAL_ADDRESS if a.upstream() else None,
    "upstream.request_attempt_count": lambda a: 1 if a.upstream() else 0,
    "upstream_host": lambda a: UPSTREAM_ADDRESS if a.upstream() else None,
    "upstream_hosts_attempted": lambda a: [a.get("upstream_host")] if a.upstream() else [],
    "downstream_direct_remote_address": lambda a: a.get("source.address"),
}


# ---- tracing, secrets, runtime values (native/tracing.pxi, secrets.pxi, runtime.pxi) -------
class TestSpan:
    """FilterTester's span (``FilterTester(traced=True)``): records what the filter does to
    it, for the test to check (``tags``, ``logs``, ``operation``, ``baggage``, ``sampled``,
    ``children``, ``finished``)."""

    __test__ = False    # (not a pytest test class)

    def __init__(self, operation: str = "ingress", parent: TestSpan | None = None) -> None:
        self.operation = operation
        self.parent = parent
        self.tags: dict[str, str] = {}
        self.logs: list[str] = []
        self.baggage: dict[str, str] = {}
        self.sampled: bool | None = None
        self.children: list[TestSpan] = []
        self.finished = False
        self.trace_id: str = parent.trace_id if parent is not None else "%016x" % id(self)
        self.span_id = ""       # as Envoy's Zipkin tracer: not exposed

    def _open(self) -> None:
        if self.finished:
            raise EnvoyPyextError("this child span is finished")

    def set_tag(self, key: Any, value: Any) -> None:
        self._open()
        self.tags[str(key)] = str(value)

    def log(self, event: Any) -> None:
        self._open()
        self.logs.append(str(event))

    def set_operation(self, name: Any) -> None:
        self._open()
        self.operation = str(name)

    def set_sampled(self, sampled: bool) -> None:
        self._open()
        self.sampled = bool(sampled)

    def set_baggage(self, key: Any, value: Any) -> None:
        self._open()
        self.baggage[str(key)] = str(value)

    def get_baggage(self, key: Any) -> str | None:
        return self.baggage.get(str(key)) or None

    def child(self, name: Any) -> TestSpan:
        self._open()
        c = TestSpan(str(name), self)
        self.children.append(c)
        return c

    def finish(self) -> None:
        if self.parent is None:
            raise EnvoyPyextError("the stream's span is finished by Envoy, not by the filter")
        self.finished = True

    def __enter__(self) -> TestSpan:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if self.parent is not None and not self.finished:
            if exc is not None:
                self.set_tag("error", "true")
            self.finish()
        return False


def read_secret(subscribed: dict[str, Any], values: dict[str, Any], name: str) -> bytes | None:
    """self.secret(name) under FilterTester: the test's value (FilterTester(secrets=...)) of a
    secret parse_config subscribed, else None; an unsubscribed name is the runtime's error."""
    if name not in subscribed:
        raise EnvoyPyextError(
            f"secret {name!r} is not subscribed by this filter configuration: call "
            f"context.secret({name!r}, sds_config) in parse_config(cls, raw, context)")
    value = values.get(name)
    if value is None or value in (b"", ""):
        return None
    return value.encode() if isinstance(value, str) else bytes(value)
