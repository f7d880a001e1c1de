# envoy-pyext: Apache-2.0
#
# Streamed calls through an Envoy cluster: send the request body piece by piece, read the
# response as it comes.
#
#     async with self.http_stream("backend", "POST", "/upload") as s:
#         await s.send(b"part 1")
#         await s.send(b"part 2", end_stream=True)      # or send_trailers({...})
#         await s.response_headers()                    # s.status, s.headers
#         async for chunk in s:
#             ...
#         s.trailers
#
# The same machinery as http_call (callout.pxi): the stream starts on the worker (or is queued
# for it), Envoy's events arrive on the worker (callout_events.pxi) and resolve the futures the
# Task waits on there. Leaving the `async with` block before the response ended resets the call.


cdef class HttpStream:
    """A streamed call through an Envoy cluster (``Filter.http_stream``)."""

    def __init__(self):
        raise TypeError("HttpStream objects are created by Filter.http_stream()")

    # ---- Envoy's side (worker) -----------------------------------------------------------
    cdef int on_headers(self, int status, list headers, bint end_stream) except -1:
        self.status = status
        if end_stream:
            self._ended = True
        _resolve(self._c.st, self._headers_future, True, False)
        return self._wake()

    cdef int on_data(self, bytes chunk, bint end_stream) except -1:
        if chunk:
            self._chunks.append(chunk)
        if end_stream:
            self._ended = True
        return self._wake()

    cdef int on_end(self, object error) except -1:
        self._ended = True
        self._error = error
        if error is not None:
            _resolve(self._c.st, self._headers_future, error, True)
        else:
            _resolve(self._c.st, self._headers_future, True, False)
        return self._wake()

    cdef int _wake(self) except -1:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _resolve(self._c.st, waiter, None, False)
        return 0

    # ---- the caller's side ---------------------------------------------------------------
    async def response_headers(self):
        """Waits for the response headers; then ``status`` and ``headers`` are set."""
        await self._headers_future

    async def send(self, data, bint end_stream=False):
        """Sends a piece of the request body (``end_stream``: the last one)."""
        _stream_send(self._c, ("data", _as_bytes(data), end_stream))

    async def send_trailers(self, trailers):
        """Ends the request with trailers (a dict or (name, value) pairs)."""
        pairs = [(_header_name(k), _header_value(v))
                 for k, v in (trailers.items() if hasattr(trailers, "items") else trailers)]
        _stream_send(self._c, ("trailers", pairs, True))

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            if self._chunks:
                return self._chunks.pop(0)
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = _get_event_loop().loop.create_future()
            try:
                await self._waiter
            except _asyncio.CancelledError:
                _callout_abandon(self._c)
                raise

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if not self._ended:
            _callout_abandon(self._c)   # the caller left early: reset the call
        return False

    def __repr__(self):
        return f"<HttpStream status={self.status} ended={self._ended}>"


cdef int _stream_send(_Callout c, tuple what) except -1:
    """Sends body data or trailers on the worker, now or (off the worker) through the queue."""
    cdef _Stream st = c.st
    _access(st)
    if c.finished:
        raise EnvoyPyextError("the call already ended")
    if c.id and PyThread_get_thread_ident() == st._tid:
        _stream_send_now(c, what)
    else:
        st._callout_queue.append((c, what))
        _ensure_scheduler(st)
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_CALLOUT)
    return 0


cdef int _stream_send_now(_Callout c, tuple what) except -1:
    """Worker: hands body data or trailers of a started call to Envoy."""
    cdef void* ep = c.st._s.envoy_ptr
    cdef list pairs
    cdef Py_ssize_t i, n
    cdef abi.envoy_dynamic_module_type_module_http_header* arr
    kind, payload, eos = what
    if c.finished or ep == NULL:
        return 0
    if kind == "data":
        ok = abi.envoy_dynamic_module_callback_http_stream_send_data(ep, c.id, _mbuf(payload), eos)
    else:
        pairs = payload
        n = len(pairs)
        arr = <abi.envoy_dynamic_module_type_module_http_header*>malloc(
            (n or 1) * sizeof(abi.envoy_dynamic_module_type_module_http_header))
        if arr == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                k, v = pairs[i]
                arr[i].key_ptr = PyBytes_AS_STRING(k)
                arr[i].key_length = PyBytes_GET_SIZE(k)
                arr[i].value_ptr = PyBytes_AS_STRING(v)
                arr[i].value_length = PyBytes_GET_SIZE(v)
            ok = abi.envoy_dynamic_module_callback_http_stream_send_trailers(ep, c.id, arr, n)
        finally:
            free(arr)
    if not ok:
        raise EnvoyPyextError("Envoy did not accept the data for the call (it ended?)")
    return 0


cdef HttpStream _http_stream(_Stream st, object cluster, str method, str path, object headers,
                             double timeout):
    cdef _Callout c = _new_callout(cluster, method, path, headers, b"", timeout, None)
    cdef HttpStream s = HttpStream.__new__(HttpStream)
    _access(st)
    c.st = st
    c.stream = s
    c.request = c.request[:2] + (b"", timeout, False)   # headers only: the body is sent later
    s._c = c
    s.headers = c.headers
    s.trailers = c.trailers
    s._chunks = []
    s._headers_future = _get_event_loop().loop.create_future()
    if st._callouts is None:
        st._callouts = {}
        st._callout_queue = []
    if PyThread_get_thread_ident() == st._tid:
        c.start()
    else:
        st._callout_queue.append(c)
        _ensure_scheduler(st)
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_CALLOUT)
    return s
