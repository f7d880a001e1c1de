# envoy-pyext: Apache-2.0
#
# Filter: the base class users subclass, one instance per HTTP stream. Its cdef part is the
# per-stream runtime state: the pointer to the shim's stream struct (NULL once Envoy destroyed
# the stream), cached views, and the flags of the little state machine that turns Status values
# into Envoy statuses (holding headers while the body is buffered, fixing content-length).

cdef enum:
    F_LOCAL_REPLY = 1 << 0      # send_local_reply was called: every later hook stops
    F_FAILED = 1 << 1           # an exception was answered fail-closed
    F_REQ_HELD = 1 << 2         # we answered StopIteration to the request headers ourselves
    F_REQ_BUFFER = 1 << 3       # buffering the whole request body; the data hook runs at the end
    F_RESP_HELD = 1 << 4
    F_RESP_BUFFER = 1 << 5

cdef inline int _held(int side) noexcept:
    return F_REQ_HELD if side == SIDE_REQUEST else F_RESP_HELD

cdef inline int _buffering(int side) noexcept:
    return F_REQ_BUFFER if side == SIDE_REQUEST else F_RESP_BUFFER


cdef class Filter:
    """Base class of an Envoy HTTP filter written in Python; one instance per HTTP stream.

    Override any of the hooks below; a hook you do not override costs nothing (the runtime
    does not even take the GIL for it). Each hook returns a Status (None means CONTINUE).
    Set ``fail_open = True`` on the class to let a stream continue when a hook raises.
    """

    cdef pyext_stream* _s       # NULL once Envoy destroyed the stream (or never bound)
    cdef FilterConfig _fc
    cdef object _config
    cdef int _flags
    cdef unsigned long _tid     # the Envoy worker thread that owns the stream
    cdef HeaderMap _v_request_headers, _v_request_trailers
    cdef HeaderMap _v_response_headers, _v_response_trailers
    cdef Buffer _v_request_body, _v_response_body
    cdef Callbacks _callbacks
    cdef object __weakref__
    cdef dict __dict__

    def __cinit__(self):
        _stats.live_filters += 1

    def __dealloc__(self):
        _stats.live_filters -= 1

    cdef int _bind(self, pyext_stream* s, FilterConfig fc) except -1:
        self._s = s
        self._fc = fc
        self._config = fc.config
        self._tid = PyThread_get_thread_ident()
        _stats.live_streams += 1
        _stats.filters_created += 1
        return 0

    cdef int _unbind(self) except -1:
        if self._s != NULL:
            self._s = NULL
            _stats.live_streams -= 1
        # Views point back at the filter: drop our side of those cycles so the objects are
        # freed by reference counting right here, not by a later GC pass. A view user code
        # kept still holds the filter and raises StreamDestroyedError when used.
        self._v_request_headers = self._v_request_trailers = None
        self._v_response_headers = self._v_response_trailers = None
        self._v_request_body = self._v_response_body = None
        self._callbacks = None
        return 0

    cdef inline void* _envoy_ptr(self) except NULL:
        # The one liveness check every view goes through.
        if self._s == NULL:
            raise StreamDestroyedError(
                "the stream this filter belonged to has been destroyed; its headers, body and "
                "callbacks can no longer be used (copy what you need while the hook runs)")
        if PyThread_get_thread_ident() != self._tid:
            raise WrongThreadError(
                "Envoy memory can only be used on the stream's Envoy worker thread")
        return self._s.envoy_ptr

    cdef HeaderMap _headers(self, int htype):
        # One view per map for the life of the stream: hooks reuse it instead of allocating.
        if htype == HT_REQUEST_HEADERS:
            if self._v_request_headers is None:
                self._v_request_headers = HeaderMap.new(self, htype)
            return self._v_request_headers
        if htype == HT_RESPONSE_HEADERS:
            if self._v_response_headers is None:
                self._v_response_headers = HeaderMap.new(self, htype)
            return self._v_response_headers
        if htype == HT_REQUEST_TRAILERS:
            if self._v_request_trailers is None:
                self._v_request_trailers = HeaderMap.new(self, htype)
            return self._v_request_trailers
        if self._v_response_trailers is None:
            self._v_response_trailers = HeaderMap.new(self, htype)
        return self._v_response_trailers

    cdef Buffer _body(self, int side):
        if side == SIDE_REQUEST:
            if self._v_request_body is None:
                self._v_request_body = Buffer.new(self, side)
            return self._v_request_body
        if self._v_response_body is None:
            self._v_response_body = Buffer.new(self, side)
        return self._v_response_body

    # ---- the per-hook state machine -------------------------------------------------------

    cdef int _on_headers(self, int side, bint end_of_stream) except -1:
        cdef FilterConfig fc = self._fc
        cdef object fn = fc.fn_decode_headers if side == SIDE_REQUEST else fc.fn_encode_headers
        cdef int status = S_CONTINUE
        cdef bint data_hook = fc.hooks & (PYEXT_HOOK_DECODE_DATA if side == SIDE_REQUEST
                                          else PYEXT_HOOK_ENCODE_DATA)
        if fn is not None:
            status = _status_of(fn(self, self._headers(
                HT_REQUEST_HEADERS if side == SIDE_REQUEST else HT_RESPONSE_HEADERS),
                end_of_stream), fn)
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return HDR_STOP_ITERATION
        if status == S_CONTINUE:
            if data_hook and not end_of_stream:
                # Hold the headers until the data hook has seen the first chunk, so that it can
                # still change them (content-length after a rewrite). Envoy releases them with
                # the first chunk the data hook continues.
                self._flags |= _held(side)
                return HDR_STOP_ITERATION
            return HDR_CONTINUE
        if status == S_STOP_AND_BUFFER:
            if data_hook and not end_of_stream:
                self._flags |= _held(side) | _buffering(side)
                return HDR_STOP_ITERATION
            return HDR_STOP_ALL_BUFFER
        if status == S_STOP_AND_BUFFER_WATERMARK or status == S_RUNNING:
            return HDR_STOP_ALL_WATERMARK
        return HDR_STOP_ITERATION  # STOP_NO_BUFFER, LOCAL_REPLY

    cdef int _on_data(self, int side, bint end_of_stream) except -1:
        cdef FilterConfig fc = self._fc
        cdef object fn = fc.fn_decode_data if side == SIDE_REQUEST else fc.fn_encode_data
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return BODY_STOP_NO_BUFFER
        if fn is None:
            return BODY_CONTINUE
        if (self._flags & _buffering(side)) and not end_of_stream:
            return BODY_STOP_BUFFER  # keep buffering; the hook sees the whole body at the end
        return self._run_data_hook(side, fn, end_of_stream, True)

    cdef int _run_data_hook(self, int side, object fn, bint end_of_stream,
                            bint in_hook) except -1:
        cdef Buffer buf = self._body(side)
        cdef int status
        cdef Py_ssize_t size_before = -1
        cdef bint resized = False
        buf._in_hook = in_hook
        buf._modified = False
        try:
            if self._flags & _held(side):
                size_before = buf._size()
            status = _status_of(fn(self, buf, end_of_stream), fn)
            resized = buf._modified and size_before >= 0 and buf._size() != size_before
        finally:
            buf._in_hook = False
            if buf._exports:
                _stats.escaped_views += 1
                _log(LL_WARN, f"envoy-pyext: {self._fc.name}: a memoryview of the body outlived "
                              f"the hook that made it; it must not be used any more")
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return BODY_STOP_NO_BUFFER
        if status == S_STOP_AND_BUFFER and not end_of_stream:
            self._flags |= _buffering(side)
            return BODY_STOP_BUFFER
        if status == S_CONTINUE or status == S_STOP_AND_BUFFER:
            # (STOP_AND_BUFFER at end_of_stream: nothing is left to wait for; continue.)
            if self._flags & _held(side):
                if resized:
                    self._fix_content_length(side, end_of_stream or
                                             (self._flags & _buffering(side)) != 0)
                self._flags &= ~(_held(side) | _buffering(side))
            return BODY_CONTINUE
        if status == S_STOP_AND_BUFFER_WATERMARK or status == S_RUNNING:
            return BODY_STOP_WATERMARK
        return BODY_STOP_NO_BUFFER

    cdef int _fix_content_length(self, int side, bint complete) except -1:
        # The headers are still held, so they can follow the body: with the whole body known we
        # state its exact length; mid-stream we drop the header and let Envoy frame the body.
        cdef HeaderMap h = self._headers(
            HT_REQUEST_HEADERS if side == SIDE_REQUEST else HT_RESPONSE_HEADERS)
        if h._get(b"content-length", True) is None:
            return 0
        cdef Buffer buf = self._body(side)
        if complete:
            buf._in_hook = True
            try:
                h._write(b"content-length", buf._size(), False)
            finally:
                buf._in_hook = False
        else:
            h._remove(b"content-length")
        return 0

    cdef int _on_trailers(self, int side) except -1:
        cdef FilterConfig fc = self._fc
        cdef object fn = fc.fn_decode_trailers if side == SIDE_REQUEST else fc.fn_encode_trailers
        cdef object data_fn = fc.fn_decode_data if side == SIDE_REQUEST else fc.fn_encode_data
        cdef int status = S_CONTINUE
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return TRL_STOP_ITERATION
        if (self._flags & _buffering(side)) and data_fn is not None:
            # The body ended with trailers instead of end_stream: hand over the whole body now.
            self._run_data_hook(side, data_fn, True, False)
            if self._flags & (F_LOCAL_REPLY | F_FAILED):
                return TRL_STOP_ITERATION
        if fn is not None:
            status = _status_of(fn(self, self._headers(
                HT_REQUEST_TRAILERS if side == SIDE_REQUEST else HT_RESPONSE_TRAILERS)), fn)
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return TRL_STOP_ITERATION
        return TRL_CONTINUE if status == S_CONTINUE else TRL_STOP_ITERATION

    ### Public API ###

    fail_open = False

    @classmethod
    def parse_config(cls, raw):
        """Turns the raw ``filter_config`` string into ``self.config``; called once per filter
        config when Envoy loads it. Raise to reject Envoy's configuration."""
        return raw

    @property
    def config(self):
        """What parse_config returned for this filter's configuration."""
        return self._config

    @property
    def callbacks(self):
        """The stream's Callbacks (send_local_reply, log)."""
        if self._callbacks is None:
            self._callbacks = Callbacks.new(self)
        return self._callbacks

    @property
    def request_headers(self):
        """The request headers of this stream (readable in every later hook)."""
        return self._headers(HT_REQUEST_HEADERS)

    @property
    def response_headers(self):
        """The response headers of this stream (once they exist)."""
        return self._headers(HT_RESPONSE_HEADERS)

    @property
    def request_body(self):
        """The request body as Envoy holds it (outside decode_data: what it buffered)."""
        return self._body(SIDE_REQUEST)

    @property
    def response_body(self):
        """The response body as Envoy holds it (outside encode_data: what it buffered)."""
        return self._body(SIDE_RESPONSE)

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


cdef int _status_of(object result, object fn) except -1:
    if result is None:
        return S_CONTINUE
    if isinstance(result, int) and not isinstance(result, bool):
        if 0 <= result <= S_RUNNING:
            return result
    raise TypeError(f"{getattr(fn, '__qualname__', fn)} returned {result!r}; a hook must "
                    f"return an envoy_pyext.Status or None")


cdef class Callbacks:
    """What a filter can ask of Envoy for its stream: ``self.callbacks``."""

    cdef Filter _f

    def __init__(self):
        raise TypeError("Callbacks objects are created by envoy-pyext, not by user code")

    @staticmethod
    cdef Callbacks new(Filter f):
        cdef Callbacks c = Callbacks.__new__(Callbacks)
        c._f = f
        return c

    def send_local_reply(self, int status_code, body=b"", headers=None, str details=""):
        """Answers the client directly with ``status_code``, ``body`` and ``headers`` (a dict or
        a list of (name, value) pairs); return the result (Status.LOCAL_REPLY) from the hook."""
        if not 200 <= status_code <= 599:
            raise ValueError(f"invalid status code {status_code}")
        cdef bytes body_b = _as_bytes(body)
        cdef list pairs = []
        if headers is not None:
            for name, value in (headers.items() if hasattr(headers, "items") else headers):
                pairs.append((_header_name(name), _header_value(value)))
        cdef bytes details_b = ("_".join(details.split()) or "envoy_pyext_local_reply").encode()
        cdef void* ep = self._f._envoy_ptr()
        cdef Py_ssize_t n = len(pairs), i
        cdef abi.envoy_dynamic_module_type_module_http_header* arr = NULL
        if n:
            arr = <abi.envoy_dynamic_module_type_module_http_header*>malloc(
                n * sizeof(abi.envoy_dynamic_module_type_module_http_header))
            if arr == NULL:
                raise MemoryError()
        try:
            for i in range(n):
                k, v = pairs[i]
                arr[i].key_ptr = PyBytes_AS_STRING(k)
                arr[i].key_length = PyBytes_GET_SIZE(k)
                arr[i].value_ptr = PyBytes_AS_STRING(v)
                arr[i].value_length = PyBytes_GET_SIZE(v)
            self._f._flags |= F_LOCAL_REPLY
            self._f._s.python_busy = 1
            abi.envoy_dynamic_module_callback_http_send_response(
                ep, status_code, arr, n, _mbuf(body_b), _mbuf(details_b))
        finally:
            free(arr)
        return Status.LOCAL_REPLY

    @property
    def buffer_limit(self):
        """Envoy's buffer limit for this stream in bytes (0: none). Raise it to buffer bodies
        larger than the listener's default (1 MiB) with STOP_AND_BUFFER; a body over the
        limit is answered 413 by Envoy."""
        return abi.envoy_dynamic_module_callback_http_get_buffer_limit(self._f._envoy_ptr())

    @buffer_limit.setter
    def buffer_limit(self, uint64_t limit):
        abi.envoy_dynamic_module_callback_http_set_buffer_limit(self._f._envoy_ptr(), limit)

    @property
    def worker_index(self):
        """The index of the Envoy worker thread running this stream."""
        return abi.envoy_dynamic_module_callback_http_filter_get_worker_index(self._f._envoy_ptr())

    def log(self, level, message):
        """Writes ``message`` to Envoy's log at ``level`` ('info', logging.WARNING, ...)."""
        frame = _sys._getframe(0)  # Cython functions have no frame: 0 is the caller
        _log(_envoy_level(level), str(message), frame.f_code.co_filename, frame.f_lineno)
