# envoy-pyext: Apache-2.0
#
# StreamInfo (self.stream_info) and Filter.get_property: what Envoy knows about a stream, read
# through the ABI's attribute getters (by CEL attribute id), the timing callback and the address
# callbacks. On the worker every read goes to Envoy. A pending hook (a coroutine on the loop
# thread, a thread after RUNNING) cannot call Envoy, so when its work leaves the worker the
# runtime reads every value once into the pending hook's _Shadow (_info_snapshot) and serves
# reads from there: the values as they were when the work left the worker.

from libcpp cimport bool as cbool

import datetime as _datetime

ctypedef abi.envoy_dynamic_module_type_attribute_id _AttrId

cdef enum:  # how an attribute is read
    _A_STR = 0
    _A_INT = 1
    _A_BOOL = 2
    _A_TIME = 3     # the stream's start (http_get_timing_info): a datetime
    _A_DURATION = 4  # the stream's duration once it completed: a timedelta

# CEL name -> (attribute id, kind): every attribute Envoy 1.40 answers through the ABI (measured
# in the real Envoy; the map-valued ones, such as request.headers or xds.route_metadata, are not
# readable through it: use the header maps and self.metadata).
cdef dict _PROPS = {
    "request.path": (0, _A_STR), "request.url_path": (1, _A_STR),
    "request.host": (2, _A_STR), "request.scheme": (3, _A_STR),
    "request.method": (4, _A_STR), "request.referer": (6, _A_STR),
    "request.useragent": (7, _A_STR), "request.time": (8, _A_TIME),
    "request.id": (9, _A_STR), "request.protocol": (10, _A_STR),
    "request.query": (11, _A_STR), "request.duration": (12, _A_DURATION),
    "request.size": (13, _A_INT), "request.total_size": (14, _A_INT),
    "response.code": (15, _A_INT), "response.code_details": (16, _A_STR),
    "response.flags": (17, _A_INT), "response.grpc_status": (18, _A_INT),
    "response.size": (21, _A_INT), "response.total_size": (22, _A_INT),
    "source.address": (24, _A_STR), "source.port": (25, _A_INT),
    "destination.address": (26, _A_STR), "destination.port": (27, _A_INT),
    "connection.id": (28, _A_INT), "connection.mtls": (29, _A_BOOL),
    "connection.requested_server_name": (30, _A_STR), "connection.tls_version": (31, _A_STR),
    "connection.subject_local_certificate": (32, _A_STR),
    "connection.subject_peer_certificate": (33, _A_STR),
    "connection.dns_san_local_certificate": (34, _A_STR),
    "connection.dns_san_peer_certificate": (35, _A_STR),
    "connection.uri_san_local_certificate": (36, _A_STR),
    "connection.uri_san_peer_certificate": (37, _A_STR),
    "connection.sha256_peer_certificate_digest": (38, _A_STR),
    "connection.transport_failure_reason": (39, _A_STR),
    "connection.termination_details": (40, _A_STR),
    "upstream.address": (41, _A_STR), "upstream.port": (42, _A_INT),
    "upstream.tls_version": (43, _A_STR),
    "upstream.subject_local_certificate": (44, _A_STR),
    "upstream.subject_peer_certificate": (45, _A_STR),
    "upstream.dns_san_local_certificate": (46, _A_STR),
    "upstream.dns_san_peer_certificate": (47, _A_STR),
    "upstream.uri_san_local_certificate": (48, _A_STR),
    "upstream.uri_san_peer_certificate": (49, _A_STR),
    "upstream.sha256_peer_certificate_digest": (50, _A_STR),
    "upstream.local_address": (51, _A_STR),
    "upstream.transport_failure_reason": (52, _A_STR),
    "upstream.request_attempt_count": (53, _A_INT),
    "upstream.requested_server_name": (68, _A_STR),
    "xds.cluster_name": (57, _A_STR), "xds.listener_direction": (59, _A_INT),
    "xds.route_name": (61, _A_STR), "xds.virtual_host_name": (63, _A_STR),
    "xds.filter_chain_name": (66, _A_STR), "xds.virtual_cluster_name": (69, _A_STR),
    "health_check": (67, _A_BOOL),
}

# Values that are not attributes (snapshot keys; not get_property names).
cdef str _K_DIRECT = "@direct_remote_address"
cdef str _K_UPSTREAM = "@upstream_host"
cdef str _K_ATTEMPTED = "@upstream_hosts_attempted"
cdef str _K_WORKER = "@worker_index"
cdef str _K_DURATION_S = "@duration"
cdef tuple _EXTRA_KEYS = (_K_DIRECT, _K_UPSTREAM, _K_ATTEMPTED, _K_WORKER, _K_DURATION_S)

_UTC = _datetime.timezone.utc
_EPOCH = _datetime.datetime(1970, 1, 1, tzinfo=_UTC)


cdef inline str _envoy_str(abi.envoy_dynamic_module_type_envoy_buffer* out):
    if out.ptr == NULL:
        return ""
    return PyUnicode_DecodeUTF8(out.ptr, out.length, "surrogateescape")


cdef object _timing(void* ep, int which):
    """The start (which 0: Unix ns) or the request-complete duration (17: ns), or None."""
    cdef abi.pyext_timing_info t
    abi.envoy_dynamic_module_callback_http_get_timing_info(ep, &t)
    if not t.has[which]:
        return None
    return t.ns[which]


cdef object _read_attr(void* ep, int attr, int kind):
    cdef abi.envoy_dynamic_module_type_envoy_buffer out
    cdef uint64_t n = 0
    cdef cbool b = False
    if kind == _A_STR:
        out.ptr = NULL
        out.length = 0
        if abi.envoy_dynamic_module_callback_http_filter_get_attribute_string(
                ep, <_AttrId>attr, &out):
            return _envoy_str(&out)
        return None
    if kind == _A_INT:
        if abi.envoy_dynamic_module_callback_http_filter_get_attribute_int(ep, <_AttrId>attr, &n):
            return n
        return None
    if kind == _A_BOOL:
        if abi.envoy_dynamic_module_callback_http_filter_get_attribute_bool(ep, <_AttrId>attr, &b):
            return b
        return None
    if kind == _A_TIME:
        ns = _timing(ep, abi.PYEXT_TIMING_START)
        return None if ns is None else _EPOCH + _datetime.timedelta(microseconds=ns // 1000)
    ns = _timing(ep, abi.PYEXT_TIMING_REQUEST_COMPLETE)
    return None if ns is None else _datetime.timedelta(microseconds=ns / 1000)


cdef object _read(void* ep, str key):
    """One value, on the worker (key: a _PROPS name or one of _EXTRA_KEYS)."""
    cdef abi.envoy_dynamic_module_type_envoy_buffer out
    cdef abi.envoy_dynamic_module_type_envoy_buffer* arr
    cdef size_t n, i
    spec = _PROPS.get(key)
    if spec is not None:
        return _read_attr(ep, spec[0], spec[1])
    out.ptr = NULL
    out.length = 0
    if key == _K_DIRECT:
        if abi.envoy_dynamic_module_callback_http_get_downstream_direct_remote_address(ep, &out):
            return _envoy_str(&out)
        return None
    if key == _K_UPSTREAM:
        if abi.envoy_dynamic_module_callback_http_get_upstream_remote_address(ep, &out):
            return _envoy_str(&out)
        return None
    if key == _K_WORKER:
        return abi.envoy_dynamic_module_callback_http_filter_get_worker_index(ep)
    if key == _K_DURATION_S:
        ns = _timing(ep, abi.PYEXT_TIMING_REQUEST_COMPLETE)
        return None if ns is None else ns / 1e9
    # _K_ATTEMPTED
    n = abi.envoy_dynamic_module_callback_http_get_upstream_hosts_attempted_size(ep)
    if n == 0:
        return []
    arr = <abi.envoy_dynamic_module_type_envoy_buffer*>calloc(
        n, sizeof(abi.envoy_dynamic_module_type_envoy_buffer))
    if arr == NULL:
        raise MemoryError()
    try:
        if not abi.envoy_dynamic_module_callback_http_get_upstream_hosts_attempted(ep, arr):
            return []
        return [_envoy_str(&arr[i]) for i in range(n) if arr[i].ptr != NULL]
    finally:
        free(arr)


cdef dict _info_snapshot(_Stream st):
    """Every value, read on the worker for a pending hook's _Shadow."""
    cdef void* ep = st._s.envoy_ptr
    _route_config_prefetch(st)      # self.route_config in the pending hook (routeconfig.pxi)
    snap = {key: _read(ep, key) for key in _PROPS}
    for key in _EXTRA_KEYS:
        snap[key] = _read(ep, key)
    snap[_SPAN_KEY] = _span_snapshot(ep)                # self.span (tracing.pxi)
    _secrets_snapshot(st, snap)                         # self.secret() (secrets.pxi)
    return snap


cdef object _info(_Stream st, str key):
    cdef _Shadow sh = _access(st)
    if sh is None:
        return _read(st._s.envoy_ptr, key)
    if sh.info is None:
        raise EnvoyPyextError("stream info is not available here")  # not reached: see _Shadow
    return sh.info.get(key)


cdef object _get_property(_Stream st, str path, object default):
    if path not in _PROPS:
        raise ValueError(
            f"unknown property {path!r}: Envoy 1.40's ABI answers these: "
            f"{', '.join(sorted(_PROPS))} (read headers through the header maps and metadata "
            f"through self.metadata)")
    value = _info(st, path)
    if value is None and path == "connection.mtls":
        return False    # Envoy answers nothing on a plaintext connection
    return default if value is None else value


cdef inline object _nonempty(object s):
    return s if s else None


cdef class TlsInfo:
    """The downstream connection's TLS session (``self.stream_info.tls``)."""

    def __repr__(self):
        return (f"<TlsInfo {self.version} sni={self.sni!r} "
                f"peer_certificate_presented={self.peer_certificate_presented}>")


cdef TlsInfo _tls_info(_Stream st):
    version = _info(st, "connection.tls_version")
    if not version:
        return None
    cdef TlsInfo t = TlsInfo.__new__(TlsInfo)
    t.version = version
    t.sni = _nonempty(_info(st, "connection.requested_server_name"))
    t.peer_subject = _nonempty(_info(st, "connection.subject_peer_certificate"))
    t.local_subject = _nonempty(_info(st, "connection.subject_local_certificate"))
    uri = _info(st, "connection.uri_san_peer_certificate")
    dns = _info(st, "connection.dns_san_peer_certificate")
    t.peer_uri_sans = [uri] if uri else []
    t.peer_dns_sans = [dns] if dns else []
    t.sha256_peer_certificate_digest = _nonempty(
        _info(st, "connection.sha256_peer_certificate_digest"))
    t.peer_certificate_presented = bool(_info(st, "connection.mtls")) or t.peer_subject is not None
    t.peer_certificate_validated = None     # not exposed by Envoy 1.40's ABI
    return t


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class StreamInfo:
    """What Envoy knows about the stream: ``self.stream_info``. Read-only; every value is read
    from Envoy when asked (on the worker), or, in a pending hook (a coroutine that left the
    worker, a thread after RUNNING), as it was when the hook's work left the worker."""

    @staticmethod
    cdef StreamInfo new(_Stream st):
        cdef StreamInfo si = StreamInfo.__new__(StreamInfo)
        si._st = st
        return si

    @property
    def route_name(self):
        """The name of the route the stream took, or None (no route, or an unnamed one)."""
        return _nonempty(_info(self._st, "xds.route_name"))

    @property
    def virtual_host_name(self):
        return _nonempty(_info(self._st, "xds.virtual_host_name"))

    @property
    def cluster_name(self):
        """The upstream cluster chosen by the route, or None."""
        return _nonempty(_info(self._st, "xds.cluster_name"))

    @property
    def protocol(self):
        """The downstream protocol: "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"."""
        return _info(self._st, "request.protocol")

    @property
    def response_code(self):
        """The response status code, None before there is one."""
        return _info(self._st, "response.code")

    @property
    def response_code_details(self):
        return _info(self._st, "response.code_details")

    @property
    def response_flags(self):
        """Envoy's response flags as a bit mask (0: none)."""
        return _info(self._st, "response.flags") or 0

    @property
    def request_id(self):
        return _info(self._st, "request.id")

    @property
    def connection_id(self):
        return _info(self._st, "connection.id")

    @property
    def downstream_remote_address(self):
        """The client's "ip:port" (after x-forwarded-for handling, if configured)."""
        return _info(self._st, "source.address")

    @property
    def downstream_local_address(self):
        """The "ip:port" the client connected to."""
        return _info(self._st, "destination.address")

    @property
    def downstream_direct_remote_address(self):
        """The "ip:port" of the peer of the TCP connection."""
        return _info(self._st, _K_DIRECT)

    @property
    def upstream_host(self):
        """The upstream host's "ip:port", None before one was chosen."""
        return _info(self._st, _K_UPSTREAM)

    @property
    def upstream_local_address(self):
        return _info(self._st, "upstream.local_address")

    @property
    def upstream_hosts_attempted(self):
        """Every upstream host tried so far ("ip:port" strings, retries included)."""
        return list(_info(self._st, _K_ATTEMPTED) or ())

    @property
    def attempt_count(self):
        """Upstream requests made so far (retries included): 0 before the first."""
        return _info(self._st, "upstream.request_attempt_count") or 0

    @property
    def worker_index(self):
        return _info(self._st, _K_WORKER)

    @property
    def bytes_received(self):
        """Request body bytes received from the client so far."""
        return _info(self._st, "request.size") or 0

    @property
    def bytes_sent(self):
        """Response body bytes sent to the client so far."""
        return _info(self._st, "response.size") or 0

    @property
    def start_time(self):
        """When the stream started (a timezone-aware UTC datetime)."""
        return _info(self._st, "request.time")

    @property
    def duration(self):
        """Seconds from the start to the end of the stream; None while it runs (on_log has
        it)."""
        return _info(self._st, _K_DURATION_S)

    @property
    def tls(self):
        """The downstream TLS session (TlsInfo), None on a plaintext connection."""
        return _tls_info(self._st)

    def __repr__(self):
        return "<StreamInfo>"
