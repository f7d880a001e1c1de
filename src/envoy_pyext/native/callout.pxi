# envoy-pyext: Apache-2.0
#
# Callouts: `await self.http_call(cluster, ...)` calls another service through one of Envoy's
# clusters (its load balancing, TLS, circuit breakers, outlier detection, stats).
#
# Every call is an Envoy HTTP stream (start_http_stream with the whole body and end_stream),
# never a unary callout: a stream can be reset when the caller gives up (a timeout, a cancelled
# Task, the client went away), a unary callout cannot. Envoy delivers the response through the
# on_http_filter_http_stream_* hooks on the stream's worker; the runtime collects it and
# resolves the call's future there. A hook's Task that only waits on callouts (and bare
# yields) never leaves the worker: the future is resolved on the worker and the Task's next
# step is taken right there (pending.pxi). A call made off the worker (from the loop thread
# or a thread) is queued and started on the worker through the scheduler (EV_CALLOUT).

import time as _time


class CalloutError(EnvoyPyextError):
    """A call through an Envoy cluster failed (see the subclasses)."""


class ClusterNotFoundError(CalloutError):
    """Envoy has no cluster of that name."""


class CalloutRequestError(CalloutError):
    """Envoy refused to create the request (missing :method/:path/host, or invalid)."""


class CalloutResetError(CalloutError):
    """The call's stream was reset (connection failure, overflow, the peer reset it, ...);
    ``reason`` names why."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class ResponseTooLargeError(CalloutError):
    """The response body was larger than ``max_response_bytes``."""


_RESET_REASONS = ("connection_failure", "connection_termination", "local_reset",
                  "local_refused_stream_reset", "overflow", "remote_reset",
                  "remote_refused_stream_reset", "protocol_error")


class HttpResponse:
    """The response of ``http_call``: ``status``, ``headers`` (list of (name, value) str pairs,
    names lower-case, pseudo-headers left out), ``body`` (bytes), ``trailers``."""

    __slots__ = ("status", "headers", "body", "trailers")

    def __init__(self, status, headers, body, trailers=()):
        self.status = status
        self.headers = list(headers)
        self.body = body
        self.trailers = list(trailers)

    def get(self, name, default=None):
        """The first value of header ``name`` (case-insensitive), or ``default``."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __repr__(self):
        return f"<HttpResponse {self.status} {len(self.body)} bytes>"


cdef list _copy_envoy_headers(abi.envoy_dynamic_module_type_envoy_http_header* headers,
                              size_t n):
    # OWNERSHIP: Envoy's arrays live only during the hook: copied here.
    cdef size_t i
    cdef list out = []
    for i in range(n):
        out.append((_decode_value(headers[i].key_ptr, headers[i].key_length),
                    _decode_value(headers[i].value_ptr, headers[i].value_length)))
    return out


@cython.freelist(16)
cdef class _Callout:

    cdef int start(self) except -1:
        """Starts the call: on the stream's worker (start_http_stream), or for a config-level
        call on the main thread (config_start_http_stream)."""
        cdef _Stream st = self.st
        cdef ConfigContext ctx = self.ctx
        cdef bint end_stream = len(self.request) < 5 or self.request[4]
        cluster, pairs, body, timeout = self.request[:4]
        self.request = None
        cdef Py_ssize_t n = len(pairs), i
        cdef abi.envoy_dynamic_module_type_module_http_header* arr = NULL
        cdef uint64_t sid = 0
        cdef int result
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
            if ctx is not None:
                result = abi.envoy_dynamic_module_callback_http_filter_config_start_http_stream(
                    ctx.envoy_ptr, &sid, _mbuf(cluster), arr, n, _mbuf(body), end_stream,
                    <uint64_t>(timeout * 1000))
            else:
                result = abi.envoy_dynamic_module_callback_http_filter_start_http_stream(
                    st._s.envoy_ptr, &sid, _mbuf(cluster), arr, n, _mbuf(body), end_stream,
                    <uint64_t>(timeout * 1000))
        finally:
            free(arr)
        if result == abi.envoy_dynamic_module_type_http_callout_init_result_ClusterNotFound:
            error = ClusterNotFoundError(
                f"no cluster named {cluster.decode(errors='replace')!r} in Envoy")
        elif result != abi.envoy_dynamic_module_type_http_callout_init_result_Success:
            error = CalloutRequestError(
                f"Envoy could not create the request to {cluster.decode(errors='replace')!r} "
                f"(init result {result})")
        else:
            error = None
        if error is not None:
            if self.stream is not None:
                self.stream.on_end(error)
            return self.settle(error, True)
        if not self.finished:   # (Envoy may have reset it inline already)
            self.id = sid
            if ctx is not None:
                ctx.callouts[sid] = self
            else:
                st._callouts[sid] = self
            _stats.live_callouts += 1
        return 0

    cdef int reset(self) except -1:
        """Resets the call's Envoy stream (on its Envoy thread)."""
        if self.ctx is not None:
            if self.ctx.envoy_ptr != NULL:
                abi.envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
                    self.ctx.envoy_ptr, self.id)
        elif self.st._s != NULL and self.st._s.envoy_ptr != NULL:
            abi.envoy_dynamic_module_callback_http_filter_reset_http_stream(
                self.st._s.envoy_ptr, self.id)
        return 0

    cdef int settle(self, object result, bint is_error) except -1:
        """Resolves the call's future (worker; the loop locked). When the stream's pending Task
        waits on exactly this future, its wake-up is taken off the loop's queue and run right
        here, on the worker: a hook that only waits on callouts never leaves the worker."""
        cdef _Stream st = self.st
        cdef dict calls = self.ctx.callouts if self.ctx is not None else st._callouts
        if self.finished:
            return 0
        self.finished = True
        if self.id and calls is not None and calls.pop(self.id, None) is not None:
            _stats.live_callouts -= 1
        return _resolve(st, self.future, result, is_error)


cdef int _resolve(_Stream st, object future, object result, bint is_error) except -1:
    """Resolves `future` (Envoy's thread; the loop locked). When `st`'s pending Task waits on
    exactly this future and we are on its worker, the Task's wake-up is taken off the loop's
    queue and run right here: a hook that only waits on Envoy (calls, bare yields) never leaves
    the worker. Otherwise the loop thread is woken."""
    cdef _Pending p = st._pend if st is not None else None
    cdef object handle = None
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        if future.done():
            return 0
        if is_error:
            future.set_exception(result)
        else:
            future.set_result(result)
        if p is not None and p.task is not None and p.handle is None \
                and getattr(p.task, "_fut_waiter", None) is future \
                and PyThread_get_thread_ident() == st._tid and st._s != NULL:
            handle = _take_step(loop, p.task)
    finally:
        _unlock_loop()
    if handle is None:
        loop._write_to_self()   # whoever waits runs on the loop thread
        return 0
    p.handle = handle
    p.steps = 0
    return pending_step(st)


async def _await_callout(_Callout c):
    try:
        return await c.future
    except _asyncio.CancelledError:
        _callout_abandon(c)
        raise


cdef int _callout_abandon(_Callout c) except -1:
    """The caller gave up (its Task was cancelled): reset the call's Envoy stream."""
    cdef _Stream st = c.st
    if c.ctx is not None:
        return c.ctx._abandon(c)
    if c.finished or st._s == NULL or st._s.envoy_ptr == NULL:
        return 0
    c.finished = True
    if c.id == 0:
        return 0    # still queued: never started
    if st._callouts.pop(c.id, None) is not None:
        _stats.live_callouts -= 1
    if PyThread_get_thread_ident() == st._tid:
        abi.envoy_dynamic_module_callback_http_filter_reset_http_stream(st._s.envoy_ptr, c.id)
    else:
        st._callout_queue.append(c.id)  # reset on the worker
        _ensure_scheduler(st)
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_CALLOUT)
    return 0


cdef int _ensure_scheduler(_Stream st) except -1:
    if st._sched == NULL:
        if PyThread_get_thread_ident() != st._tid:
            raise EnvoyPyextError("a callout can only be made off the worker while a hook of "
                                  "the stream is pending")
        st._sched = abi.envoy_dynamic_module_callback_http_filter_scheduler_new(st._s.envoy_ptr)
    return 0


cdef _Callout _new_callout(object cluster, str method, str path, object headers, object body,
                           double timeout, object max_response_bytes):
    """A call, its request checked and encoded, not started."""
    cdef _Callout c = _Callout.__new__(_Callout)
    cdef list pairs = [(b":method", _header_value(method)), (b":path", _header_value(path))]
    cdef bint has_host = False
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    if headers is not None:
        for name, value in (headers.items() if hasattr(headers, "items") else headers):
            key = _header_name(name)
            has_host = has_host or key == b"host" or key == b":authority"
            pairs.append((key, _header_value(value)))
    cdef bytes cluster_b = _as_bytes(cluster)
    if not has_host:
        pairs.append((b"host", cluster_b))
    cdef bytes body_b = _as_bytes(body)
    if body_b:
        pairs.append((b"content-length", str(len(body_b)).encode()))
    c.request = (cluster_b, pairs, body_b, timeout)
    c.future = _get_event_loop().loop.create_future()
    c.headers = []
    c.trailers = []
    c.body = bytearray()
    c.timeout = timeout
    c.started = _time.monotonic()
    if max_response_bytes is None:
        c.limit = 1 << 20
    else:
        c.limit = max_response_bytes
    return c


cdef object _http_call(_Stream st, object cluster, str method, str path, object headers,
                       object body, double timeout, object max_response_bytes):
    """Makes the call (or queues it for the worker) and returns the awaitable result."""
    cdef _Callout c = _new_callout(cluster, method, path, headers, body, timeout,
                                   max_response_bytes)
    _access(st)     # alive (StreamDestroyedError), from a pending hook when off the worker
    c.st = st
    if st._callouts is None:
        st._callouts = {}
        st._callout_queue = []
    if PyThread_get_thread_ident() == st._tid:
        c.start()
    else:
        st._callout_queue.append(c)
        _ensure_scheduler(st)
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_CALLOUT)
    return _await_callout(c)


cdef int callouts_run_queued(_Stream st) except -1:
    """Worker (on_scheduled EV_CALLOUT): starts the calls and resets asked for off the worker."""
    cdef list queue = st._callout_queue
    if not queue:
        return 0
    st._callout_queue = []
    for item in queue:
        if isinstance(item, _Callout):
            if not (<_Callout>item).finished:
                (<_Callout>item).start()
        elif isinstance(item, tuple):   # (call, body data or trailers) of a streamed call
            _stream_send_now(item[0], item[1])
        else:
            abi.envoy_dynamic_module_callback_http_filter_reset_http_stream(st._s.envoy_ptr, item)
    return 0


cdef int callouts_cancel(_Stream st, bint envoy_alive) except -1:
    """The stream ends: every call still in flight is reset (when Envoy is still there) and
    its future cancelled."""
    cdef _Callout c
    if not st._callouts and not st._callout_queue:
        return 0
    calls = list(st._callouts.values())
    queued = [x for x in st._callout_queue if isinstance(x, _Callout)]
    for c in calls + queued:
        if c.stream is not None:
            c.stream.on_end(_asyncio.CancelledError("the stream ended"))
    st._callouts.clear()
    st._callout_queue = []
    _stats.live_callouts -= len(calls)
    for c in calls:
        c.finished = True
        if envoy_alive:
            abi.envoy_dynamic_module_callback_http_filter_reset_http_stream(st._s.envoy_ptr, c.id)
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        for c in calls + queued:
            c.finished = True
            if not c.future.done():
                c.future.cancel()
    finally:
        _unlock_loop()
    loop._write_to_self()
    return 0
