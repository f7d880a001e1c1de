# envoy-pyext: Apache-2.0
#
# Filter: the class users subclass, one instance per HTTP stream. It carries nothing of the
# runtime but a reference to the stream's _Stream (stream.pxi): the user's namespace is the
# user's. Every property checks that the stream is alive before it makes a view.
#
# Outside Envoy, envoy_pyext.testing.FilterTester binds a Filter to an in-memory stream
# (_bind_test_stream): the properties then return that stream's objects. They are consulted
# only when the Filter has no runtime stream (_rt is None), so Envoy's path is unchanged.


cdef inline _Stream _live(Filter f):
    cdef _Stream st = f._rt
    if st is None or st._s == NULL:
        _access(None)  # raises StreamDestroyedError
    if st._s.complete and PyThread_get_thread_ident() != st._tid:
        _access(st)    # another thread after the stream completed: StreamDestroyedError
    return st


cdef inline object _tested(Filter f):
    """The in-memory stream of envoy_pyext.testing, or None (always None in Envoy)."""
    return f._test if f._rt is None else None


def _bind_test_stream(Filter f, stream):
    """envoy_pyext.testing only: makes ``f``'s properties (config, callbacks, request_headers,
    ...) and ``http_call`` use ``stream``, a pure-Python stand-in for the runtime's stream.
    Refused for a Filter the runtime created for an Envoy stream."""
    if f._rt is not None:
        raise EnvoyPyextError("this Filter belongs to an Envoy stream")
    f._test = stream


cdef class Filter:
    """Base class of an Envoy HTTP filter written in Python; one instance per HTTP stream.

    Override any of the hooks below; a hook you do not override costs nothing (the runtime
    does not even take the GIL for it). Each hook returns a Status (None means CONTINUE) and
    may be ``async def``. Set ``fail_open = True`` on the class to let a stream continue when a
    hook raises.
    """

    def __cinit__(self):
        _stats.live_filters += 1

    def __dealloc__(self):
        _stats.live_filters -= 1

    ### Public API ###

    fail_open = False

    @classmethod
    def parse_config(cls, raw):
        """Turns the raw ``filter_config`` string into ``self.config``; called once per filter
        config when Envoy loads it. Raise to reject Envoy's configuration. Declare it
        ``parse_config(cls, raw, context)`` to get a ConfigContext (config-level http_call,
        spawn)."""
        return raw

    @classmethod
    def parse_route_config(cls, raw):
        """Turns a route's per-route ``filter_config`` (typed_per_filter_config:
        DynamicModuleFilterPerRoute naming this class) into an object; called when Envoy loads
        the route configuration. Raise to reject it."""
        return raw

    @classmethod
    def merge_route_config(cls, base, override):
        """``self.route_config`` for a stream whose route has a per-route config: ``base`` is
        the filter's config (parse_config's), ``override`` the most specific per-route one
        (parse_route_config's). Default: ``override``."""
        return override

    @property
    def route_config(self):
        """merge_route_config(self.config, the route's per-route config), or None when no
        per-route config applies."""
        t = _tested(self)
        if t is not None:
            return t.route_config
        return _route_config(_live(self))

    @property
    def config(self):
        """What parse_config returned for this filter's configuration."""
        t = _tested(self)
        if t is not None:
            return t.config
        if self._rt is None:
            raise EnvoyPyextError("this Filter is not bound to an Envoy stream")
        return self._rt._fc.config

    @property
    def callbacks(self):
        """The stream's Callbacks (send_local_reply, continue_request, log, ...)."""
        cdef _Stream st
        t = _tested(self)
        if t is not None:
            return t.callbacks
        st = _live(self)
        if st._callbacks is None:
            st._callbacks = Callbacks.new(st)
        return st._callbacks

    @property
    def request_headers(self):
        """The request headers of this stream (readable in every later hook)."""
        t = _tested(self)
        if t is not None:
            return t.request_headers
        return _live(self)._headers(HT_REQUEST_HEADERS)

    @property
    def response_headers(self):
        """The response headers of this stream (once they exist)."""
        t = _tested(self)
        if t is not None:
            return t.response_headers
        return _live(self)._headers(HT_RESPONSE_HEADERS)

    @property
    def request_trailers(self):
        t = _tested(self)
        if t is not None:
            return t.request_trailers
        return _live(self)._headers(HT_REQUEST_TRAILERS)

    @property
    def response_trailers(self):
        t = _tested(self)
        if t is not None:
            return t.response_trailers
        return _live(self)._headers(HT_RESPONSE_TRAILERS)

    @property
    def request_body(self):
        """The request body as Envoy holds it (outside decode_data: what it buffered)."""
        t = _tested(self)
        if t is not None:
            return t.request_body
        return _live(self)._body(SIDE_REQUEST)

    @property
    def response_body(self):
        """The response body as Envoy holds it (outside encode_data: what it buffered)."""
        t = _tested(self)
        if t is not None:
            return t.response_body
        return _live(self)._body(SIDE_RESPONSE)

    @property
    def stream_info(self):
        """What Envoy knows about the stream (StreamInfo): route, cluster, addresses, response
        code, timings, TLS. In a pending hook: the values when its work left the worker."""
        cdef _Stream st
        t = _tested(self)
        if t is not None:
            return t.stream_info
        st = _live(self)
        if st._v_info is None:
            st._v_info = StreamInfo.new(st)
        return st._v_info

    def get_property(self, str path, default=None):
        """One of Envoy's attributes by its CEL name ("request.time", "source.address",
        "xds.route_name", "connection.mtls", ...), typed (str, int, bool, datetime,
        timedelta), or ``default`` when Envoy has no value. Unknown names raise ValueError."""
        t = _tested(self)
        if t is not None:
            return t.get_property(path, default)
        return _get_property(_live(self), path, default)

    @property
    def metadata(self):
        """The stream's dynamic metadata, and the route's, cluster's and host's (Metadata)."""
        cdef _Stream st
        t = _tested(self)
        if t is not None:
            return t.metadata
        st = _live(self)
        if st._v_meta is None:
            st._v_meta = Metadata.new(st)
        return st._v_meta

    @property
    def filter_state(self):
        """Envoy's filter state for the stream (FilterState): bytes for Envoy's other filters
        and the access log, Python objects for other Python filters."""
        cdef _Stream st
        t = _tested(self)
        if t is not None:
            return t.filter_state
        st = _live(self)
        if st._v_fs is None:
            st._v_fs = FilterState.new(st)
        return st._v_fs

    def http_call(self, cluster, str method="GET", str path="/", headers=None, body=b"",
                  double timeout=5.0, max_response_bytes=None):
        """Calls another service through the Envoy cluster ``cluster``; ``await`` it for an
        HttpResponse. ``host`` defaults to the cluster's name. Raises ClusterNotFoundError,
        CalloutRequestError, CalloutResetError, ResponseTooLargeError (more than
        ``max_response_bytes``, default 1 MiB), TimeoutError (after ``timeout`` seconds)."""
        t = _tested(self)
        if t is not None:
            return t.http_call(cluster, method, path, headers, body, timeout, max_response_bytes)
        return _http_call(_live(self), cluster, method, path, headers, body, timeout,
                          max_response_bytes)

    def http_stream(self, cluster, str method="POST", str path="/", headers=None,
                    double timeout=60.0):
        """A streamed call through the Envoy cluster ``cluster``: use it as
        ``async with self.http_stream(...) as s:`` and ``await s.send(...)``, ``await
        s.response_headers()``, ``async for chunk in s``. Leaving the block early resets it."""
        t = _tested(self)
        if t is not None:
            return t.http_stream(cluster, method, path, headers, timeout)
        return _http_stream(_live(self), cluster, method, path, headers, timeout)

    def decode_headers(self, headers, end_stream):
        return None

    def decode_data(self, buffer, end_stream):
        return None

    def decode_trailers(self, trailers):
        return None

    def encode_headers(self, headers, end_stream):
        return None

    def encode_data(self, buffer, end_stream):
        return None

    def encode_trailers(self, trailers):
        return None

    def on_log(self):
        return None

    def on_destroy(self):
        return None

    def on_local_reply(self, status_code, details, reset_imminent, /):
        """A local reply is about to be sent for the stream (Envoy's, another filter's or this
        filter's); return Status.RESET to reset the stream instead. Optional; not async."""
        return None
