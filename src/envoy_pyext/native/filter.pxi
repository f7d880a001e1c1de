# envoy-pyext: Apache-2.0
#
# Filter: the base class users subclass, one instance per HTTP stream. Its cdef part is the
# per-stream runtime state: the pointer to the shim's stream struct (NULL once Envoy destroyed
# the stream), cached views, and the state machine that turns Status values into Envoy statuses
# (holding headers while the body is buffered, fixing content-length) and that parks the stream
# while a hook runs asynchronously (a coroutine, or a thread after Status.RUNNING).
#
# THREAD: every method here runs with the GIL. Hooks run on the stream's Envoy worker; while a
# hook is pending, the coroutine (event-loop thread) or the user's thread may use the views,
# which then read and write the stream's _Shadow; the worker applies the result in _resume()
# when Envoy delivers the scheduler event. Per stream, at most one user hook runs at a time.

cdef enum:
    F_LOCAL_REPLY = 1 << 0      # send_local_reply was called: every later hook stops
    F_FAILED = 1 << 1           # an exception was answered fail-closed
    F_REQ_HELD = 1 << 2         # we answered StopIteration to the request headers ourselves
    F_REQ_BUFFER = 1 << 3       # buffering the whole request body; the data hook runs at the end
    F_RESP_HELD = 1 << 4
    F_RESP_BUFFER = 1 << 5
    F_REQ_STOPPED = 1 << 6      # a hook told Envoy to stop and nobody continued yet
    F_RESP_STOPPED = 1 << 7

# Hook kinds and what arrived from Envoy while a hook was pending.
cdef enum:
    K_HEADERS = 0
    K_DATA = 1
    K_TRAILERS = 2
    A_DATA = 1
    A_DATA_EOS = 2
    A_TRAILERS = 4

cdef enum:
    S_PENDING = 100             # internal: the hook went asynchronous
    EV_RESUME = 1               # scheduler event ids: the pending hook completed
    EV_STEP = 2                 #   a coroutine parked on the worker takes its next step
    BUSY_REPLIED = PYEXT_BUSY_REPLIED    # pyext_stream.python_busy bits
    BUSY_PENDING = PYEXT_BUSY_PENDING

cdef inline int _held(int side) noexcept:
    return F_REQ_HELD if side == SIDE_REQUEST else F_RESP_HELD

cdef inline int _buffering(int side) noexcept:
    return F_REQ_BUFFER if side == SIDE_REQUEST else F_RESP_BUFFER

cdef inline int _stopped(int side) noexcept:
    return F_REQ_STOPPED if side == SIDE_REQUEST else F_RESP_STOPPED

cdef inline int _htype_of(int side, int kind) noexcept:
    if kind == K_TRAILERS:
        return HT_REQUEST_TRAILERS if side == SIDE_REQUEST else HT_RESPONSE_TRAILERS
    return HT_REQUEST_HEADERS if side == SIDE_REQUEST else HT_RESPONSE_HEADERS

_HOOK_NAMES = (("decode_headers", "decode_data", "decode_trailers"),
               ("encode_headers", "encode_data", "encode_trailers"))


cdef class Filter:
    """Base class of an Envoy HTTP filter written in Python; one instance per HTTP stream.

    Override any of the hooks below; a hook you do not override costs nothing (the runtime
    does not even take the GIL for it). Each hook returns a Status (None means CONTINUE) and
    may be ``async def``. Set ``fail_open = True`` on the class to let a stream continue when a
    hook raises.
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
    # asynchronous work
    cdef int _pend_side         # SIDE_NONE when no hook is pending
    cdef int _pend_kind
    cdef bint _pend_eos
    cdef object _task           # the asyncio Task of a pending coroutine (loop thread)
    cdef object _coro           # a pending coroutine parked on the worker (it yielded None)
    cdef bint _has_completion
    cdef bint _completion_error
    cdef object _completion     # the hook's result, or the exception it raised
    cdef void* _sched           # Envoy scheduler, created on first use, deleted at destroy
    cdef _Shadow _shadow
    cdef int _arrived[2]        # A_* bits per side
    cdef Py_ssize_t _seen[2]    # body bytes the data hook has seen (for data that arrives later)
    cdef int _hook_depth
    cdef object _settle_event
    cdef object __weakref__
    cdef dict __dict__

    def __cinit__(self):
        _stats.live_filters += 1
        self._pend_side = SIDE_NONE

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
        """Envoy destroyed the stream (worker thread)."""
        if self._s == NULL:
            return 0
        if self._pend_side != SIDE_NONE:
            self._cancel_pending()
        if self._sched != NULL:
            abi.envoy_dynamic_module_callback_http_filter_scheduler_delete(self._sched)
            self._sched = NULL
        self._s = NULL
        _stats.live_streams -= 1
        # Views point back at the filter: cut both directions so that the filter and its views
        # are freed by reference counting, even when user code kept a view on the filter
        # (self.headers = headers). Such a kept view raises StreamDestroyedError when used.
        if self._v_request_headers is not None:
            self._v_request_headers._f = None
        if self._v_response_headers is not None:
            self._v_response_headers._f = None
        if self._v_request_trailers is not None:
            self._v_request_trailers._f = None
        if self._v_response_trailers is not None:
            self._v_response_trailers._f = None
        if self._v_request_body is not None:
            self._v_request_body._f = None
        if self._v_response_body is not None:
            self._v_response_body._f = None
        if self._callbacks is not None:
            self._callbacks._f = None
        self._v_request_headers = self._v_request_trailers = None
        self._v_response_headers = self._v_response_trailers = None
        self._v_request_body = self._v_response_body = None
        self._callbacks = None
        if self._settle_event is not None:
            self._settle_event.set()
        return 0

    cdef _Shadow _access(self):
        """The liveness check every view goes through. Returns the shadow while a hook is
        pending, None when the caller may use Envoy directly (worker thread)."""
        if self._s == NULL or self._s.envoy_ptr == NULL:
            raise StreamDestroyedError(
                "the stream this filter belonged to has been destroyed; its headers, body and "
                "callbacks can no longer be used (copy what you need while the hook runs)")
        if self._shadow is not None:
            return self._shadow
        if PyThread_get_thread_ident() == self._tid:
            return None
        if self._hook_depth > 0:
            # A thread started by a hook that is still running: wait until the hook has
            # returned (its RUNNING status makes the shadow), with the GIL released.
            if self._settle_event is None:
                self._settle_event = _threading.Event()
            self._settle_event.wait(60)
            if self._s == NULL:
                raise StreamDestroyedError("the stream was destroyed")
            if self._shadow is not None:
                return self._shadow
        raise WrongThreadError(
            "Envoy memory can only be used on the stream's Envoy worker thread, or while one "
            "of the stream's hooks is pending (async def, or after returning Status.RUNNING)")

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

    cdef inline object _hook_fn(self, int side, int kind):
        cdef FilterConfig fc = self._fc
        if side == SIDE_REQUEST:
            if kind == K_HEADERS:
                return fc.fn_decode_headers
            return fc.fn_decode_data if kind == K_DATA else fc.fn_decode_trailers
        if kind == K_HEADERS:
            return fc.fn_encode_headers
        return fc.fn_encode_data if kind == K_DATA else fc.fn_encode_trailers

    # ---- calling a user hook ----------------------------------------------------------------

    cdef int _invoke(self, int side, int kind, object fn, object arg, bint eos) except -1:
        """Calls a user hook. Returns its status, or S_PENDING if it went asynchronous."""
        cdef object result
        cdef int status
        cdef bint finished
        self._hook_depth += 1
        try:
            result = fn(self, arg) if kind == K_TRAILERS else fn(self, arg, eos)
            if result is not None and not isinstance(result, int) and _is_awaitable(result):
                coro = _as_coroutine(result)
                result = _step(coro, None, &finished)
                if not finished:
                    # A coroutine that only yields (stays on this worker) and is not in a data
                    # hook can keep using Envoy directly: no copy unless it leaves the worker.
                    self._go_pending(side, kind, eos, kind == K_DATA or result is not None)
                    self._park(coro, result)
                    return S_PENDING
            status = _status_of(result, fn)
            if status == S_RUNNING:
                if self._has_completion:   # the thread finished before the hook returned
                    return self._take_completion(fn)
                self._go_pending(side, kind, eos, True)
                return S_PENDING
            self._has_completion = False
            return status
        finally:
            self._hook_depth -= 1
            if self._settle_event is not None:
                self._settle_event.set()
                self._settle_event = None

    cdef int _trace(self, str what) except -1:
        _log(LL_DEBUG, f"envoy-pyext: stream {<size_t>self._s:#x} {what} flags={self._flags:#x} "
                       f"pending={self._pend_side}/{self._pend_kind} "
                       f"arrived={self._arrived[0]}/{self._arrived[1]}")
        return 0

    cdef int _park(self, object coro, object yielded) except -1:
        """A pending coroutine suspended: a bare yield steps again on this worker (through
        Envoy's scheduler), a future sends it to the event-loop thread."""
        if yielded is None:
            self._coro = coro
            abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(self._sched, EV_STEP)
        else:
            if self._shadow is None:  # leaving the worker: from now on views use copies
                self._shadow = _Shadow.snapshot(self, SIDE_NONE)
            self._task = _hand_to_loop(coro, yielded, self._pyext_task_done)
        return 0

    cdef int _step_parked(self) except -1:
        """Worker thread (on_scheduled): the next step of a coroutine parked here."""
        cdef bint finished
        coro = self._coro
        if coro is None or self._pend_side == SIDE_NONE:
            return 0
        self._coro = None
        try:
            value = _step(coro, None, &finished)
        except BaseException as exc:
            self._record(True, exc)
            return self._resume()
        if finished:
            self._record(False, value)
            return self._resume()
        return self._park(coro, value)

    cdef int _go_pending(self, int side, int kind, bint eos, bint shadow) except -1:
        self._pend_side = side
        self._pend_kind = kind
        self._pend_eos = eos
        self._arrived[0] = self._arrived[1] = 0
        if self._sched == NULL:
            self._sched = abi.envoy_dynamic_module_callback_http_filter_scheduler_new(
                self._s.envoy_ptr)
        if shadow:
            self._shadow = _Shadow.snapshot(self, side if kind == K_DATA else SIDE_NONE)
            self._seen[side] = len(self._shadow.bodies[side])
        else:
            self._seen[side] = self._body(side)._size_direct()
        self._s.python_busy |= BUSY_PENDING
        if _debug:
            self._trace(f"pending side={side} kind={kind} eos={eos}")
        _stats.pending += 1
        if _stats.pending > _stats.pending_peak:
            _stats.pending_peak = _stats.pending
        return 0

    cdef int _leave_pending(self) except -1:
        self._pend_side = SIDE_NONE
        self._task = None
        self._shadow = None
        self._s.python_busy &= ~BUSY_PENDING
        _stats.pending -= 1
        return 0

    cdef int _cancel_pending(self) except -1:
        """Abandons the pending hook: its coroutine sees CancelledError, its writes are lost."""
        task = self._task
        coro = self._coro
        self._coro = None
        self._has_completion = False
        self._completion = None
        self._leave_pending()
        if task is not None:
            _get_event_loop().loop.call_soon_threadsafe(task.cancel)
        if coro is not None:
            _throw_into(coro, _asyncio.CancelledError("the stream went away"))
        return 0

    def _pyext_task_done(self, task):
        # Event-loop thread: the coroutine of a pending hook finished.
        if self._s == NULL or self._s.envoy_ptr == NULL or task is not self._task:
            return  # destroyed or abandoned: nobody waits for it
        if task.cancelled():
            self._complete(True, _asyncio.CancelledError("the hook's task was cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            self._complete(True, exc)
        else:
            self._complete(False, task.result())

    cdef int _record(self, bint is_error, object value) except -1:
        self._completion = value
        self._completion_error = is_error
        self._has_completion = True
        return 0

    cdef int _complete(self, bint is_error, object value) except -1:
        """Records the outcome of the pending hook and wakes the worker (any thread)."""
        self._record(is_error, value)
        if self._pend_side != SIDE_NONE and self._sched != NULL:
            # THREAD: safe from any thread; Envoy runs on_scheduled on the stream's worker.
            abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(self._sched, EV_RESUME)
        return 0

    cdef int _take_completion(self, object fn) except -1:
        value = self._completion
        is_error = self._completion_error
        self._has_completion = False
        self._completion = None
        if is_error:
            raise value
        return _status_of(value, fn)

    # ---- Envoy events -------------------------------------------------------------------

    cdef int _on_headers(self, int side, bint end_of_stream) except -1:
        cdef int status = S_CONTINUE
        cdef object fn
        if _debug:
            self._trace(f"headers side={side} eos={end_of_stream}")
        if self._pend_side != SIDE_NONE:
            if self._pend_side == side:
                return HDR_STOP_ALL_WATERMARK
            # The response started (Envoy or another filter answered) while request-side work
            # was pending: that work no longer matters; the response hooks run as usual.
            self._cancel_pending()
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return HDR_STOP_ITERATION
        cdef bint data_hook = self._hook_fn(side, K_DATA) is not None
        fn = self._hook_fn(side, K_HEADERS)
        if fn is not None:
            status = self._invoke(side, K_HEADERS, fn, self._headers(_htype_of(side, K_HEADERS)),
                                  end_of_stream)
            if status == S_PENDING:
                # With a data hook, only the headers stop: body chunks keep coming to
                # _on_data, which parks them in Envoy (watermark back-pressure) until the
                # headers hook is done, and the data hook then sees them in order, with the
                # headers still held. Without one, Envoy holds everything.
                return HDR_STOP_ITERATION if data_hook else HDR_STOP_ALL_WATERMARK
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
        self._flags |= _stopped(side)
        if status == S_STOP_AND_BUFFER:
            if data_hook and not end_of_stream:
                self._flags = (self._flags & ~_stopped(side)) | _held(side) | _buffering(side)
                return HDR_STOP_ITERATION
            return HDR_STOP_ALL_BUFFER
        if status == S_STOP_AND_BUFFER_WATERMARK:
            return HDR_STOP_ALL_WATERMARK
        return HDR_STOP_ITERATION  # STOP_NO_BUFFER, LOCAL_REPLY

    cdef int _on_data(self, int side, bint end_of_stream) except -1:
        cdef object fn = self._hook_fn(side, K_DATA)
        if _debug:
            self._trace(f"data side={side} eos={end_of_stream}")
        if self._pend_side != SIDE_NONE:
            if fn is None:
                return BODY_CONTINUE  # nobody on this side to keep it from
            self._arrived[side] |= A_DATA | (A_DATA_EOS if end_of_stream else 0)
            return BODY_STOP_WATERMARK  # stays in Envoy (back-pressure) until we resume
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return BODY_STOP_NO_BUFFER
        if fn is None:
            return BODY_CONTINUE
        if (self._flags & _buffering(side)) and not end_of_stream:
            return BODY_STOP_BUFFER  # keep buffering; the hook sees the whole body at the end
        return self._data_status(side, self._run_data_hook(side, fn, end_of_stream, True),
                                 end_of_stream)

    cdef int _run_data_hook(self, int side, object fn, bint end_of_stream,
                            bint in_hook) except -1:
        """Calls the data hook; returns its status (or S_PENDING). Fixes content-length when
        the headers are still held and the body changed size."""
        cdef Buffer buf = self._body(side)
        cdef int status
        cdef Py_ssize_t size_before = -1
        cdef bint resized = False
        buf._in_hook = in_hook
        buf._modified = False
        try:
            if self._flags & _held(side):
                size_before = buf._size()
            status = self._invoke(side, K_DATA, fn, buf, end_of_stream)
            if status != S_PENDING:
                resized = buf._modified and size_before >= 0 and buf._size() != size_before
                self._seen[side] = buf._size() + buf._skip
        finally:
            buf._in_hook = False
            if buf._exports:
                _stats.escaped_views += 1
                _log(LL_WARN, f"envoy-pyext: {self._fc.name}: a memoryview of the body outlived "
                              f"the hook that made it; it must not be used any more")
        if resized and (status == S_CONTINUE or status == S_STOP_AND_BUFFER) \
                and (self._flags & _held(side)):
            self._fix_content_length(side, end_of_stream or (self._flags & _buffering(side)) != 0)
        return status

    cdef int _data_status(self, int side, int status, bint end_of_stream) except -1:
        """Maps a data hook's status to Envoy's, updating the side's flags."""
        if status == S_PENDING:
            return BODY_STOP_WATERMARK
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return BODY_STOP_NO_BUFFER
        if status == S_STOP_AND_BUFFER and not end_of_stream:
            self._flags |= _buffering(side)
            return BODY_STOP_BUFFER
        if status == S_CONTINUE or status == S_STOP_AND_BUFFER:
            # (STOP_AND_BUFFER at end_of_stream: nothing is left to wait for; continue.)
            self._flags &= ~(_held(side) | _buffering(side) | _stopped(side))
            return BODY_CONTINUE
        self._flags |= _stopped(side)
        if status == S_STOP_AND_BUFFER_WATERMARK:
            return BODY_STOP_WATERMARK
        return BODY_STOP_NO_BUFFER

    cdef int _fix_content_length(self, int side, bint complete) except -1:
        # The headers are still held, so they can follow the body: with the whole body known we
        # state its exact length; mid-stream we drop the header and let Envoy frame the body.
        cdef HeaderMap h = self._headers(_htype_of(side, K_HEADERS))
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
        cdef object fn = self._hook_fn(side, K_TRAILERS)
        cdef object data_fn = self._hook_fn(side, K_DATA)
        cdef int status = S_CONTINUE
        if self._pend_side != SIDE_NONE:
            if fn is None and data_fn is None:
                return TRL_CONTINUE
            self._arrived[side] |= A_TRAILERS
            return TRL_STOP_ITERATION
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return TRL_STOP_ITERATION
        if (self._flags & _buffering(side)) and data_fn is not None:
            # The body ended with trailers instead of end_stream: hand over the whole body now.
            status = self._data_status(side, self._run_data_hook(side, data_fn, True, False), True)
            if self._pend_side != SIDE_NONE:
                self._arrived[side] |= A_TRAILERS
                return TRL_STOP_ITERATION
            if self._flags & (F_LOCAL_REPLY | F_FAILED):
                return TRL_STOP_ITERATION
        return self._trailers_status(side, fn)

    cdef int _trailers_status(self, int side, object fn) except -1:
        cdef int status = S_CONTINUE
        if fn is not None:
            status = self._invoke(side, K_TRAILERS, fn, self._headers(_htype_of(side, K_TRAILERS)),
                                  True)
        if status == S_PENDING or self._flags & (F_LOCAL_REPLY | F_FAILED):
            return TRL_STOP_ITERATION
        if status != S_CONTINUE:
            self._flags |= _stopped(side)
            return TRL_STOP_ITERATION
        return TRL_CONTINUE

    cdef int _continue(self, int side) except -1:
        if _debug:
            self._trace(f"continue side={side}")
        self._flags &= ~(_stopped(side) | _held(side))
        if side == SIDE_REQUEST:
            abi.envoy_dynamic_module_callback_http_filter_continue_decoding(self._s.envoy_ptr)
        else:
            abi.envoy_dynamic_module_callback_http_filter_continue_encoding(self._s.envoy_ptr)
        return 0

    # ---- resuming after asynchronous work (worker thread, from on_scheduled) -------------

    cdef int _resume(self) except -1:
        if self._pend_side == SIDE_NONE or not self._has_completion:
            return 0  # a stale event (the work was abandoned)
        cdef int side = self._pend_side, kind = self._pend_kind
        cdef bint eos = self._pend_eos
        cdef _Shadow shadow = self._shadow
        cdef object fn = self._hook_fn(side, kind)
        if _debug:
            self._trace(f"resume side={side} kind={kind}")
        self._leave_pending()
        if shadow is not None:
            shadow.replay(self)  # writes made while pending reach Envoy first, in order
        cdef int status = self._take_completion(fn)
        if self._flags & (F_LOCAL_REPLY | F_FAILED):
            return 0
        if kind == K_DATA and shadow is not None and shadow.changed[side] \
                and (self._flags & _held(side)) \
                and len(shadow.bodies[side]) != shadow.body_base[side] \
                and (status == S_CONTINUE or status == S_STOP_AND_BUFFER):
            self._fix_content_length(side, eos or (self._flags & _buffering(side)) != 0)
        if status == S_RUNNING:  # a coroutine handed the rest to a thread
            self._go_pending(side, kind, eos, True)
            return 0
        cdef bint data_hook = self._hook_fn(side, K_DATA) is not None
        if kind == K_HEADERS:
            if status == S_STOP_AND_BUFFER and data_hook:
                self._flags |= _buffering(side)
            elif status != S_CONTINUE:
                self._flags |= _stopped(side)
                return 0
            if data_hook and not eos:
                # The headers stay held until the data hook has seen the body (as in the
                # synchronous case); what arrived meanwhile goes to it now, the rest later.
                self._flags |= _held(side)
                if not (self._arrived[side] & (A_DATA | A_TRAILERS)):
                    return 0
        elif kind == K_DATA:
            if self._data_status(side, status, eos) != BODY_CONTINUE \
                    and not (self._flags & _buffering(side)):
                return 0
        elif status != S_CONTINUE:
            self._flags |= _stopped(side)
            return 0
        if self._deliver_arrivals(side):
            self._continue(side)
        cdef int other = SIDE_RESPONSE if side == SIDE_REQUEST else SIDE_REQUEST
        if self._arrived[other] and self._pend_side == SIDE_NONE:
            if self._deliver_arrivals(other):
                self._continue(other)
        return 0

    cdef bint _deliver_arrivals(self, int side) except -1:
        """Hands what Envoy delivered while the stream was pending to the hooks, in order.
        Returns True when the side may continue now."""
        cdef int arrived = self._arrived[side]
        cdef object data_fn = self._hook_fn(side, K_DATA)
        cdef Buffer buf
        cdef int status
        cdef bint complete
        self._arrived[side] = 0
        if data_fn is not None and (arrived & (A_DATA | A_TRAILERS)):
            complete = (arrived & (A_DATA_EOS | A_TRAILERS)) != 0
            buf = self._body(side)
            if self._flags & _buffering(side):
                if not complete:
                    return False  # keep buffering; the hook sees the whole body at the end
                status = self._run_data_hook(side, data_fn, True, False)
            elif arrived & A_DATA:
                buf._skip = self._seen[side]  # only what the hook has not seen yet
                try:
                    status = self._run_data_hook(side, data_fn,
                                                 (arrived & A_DATA_EOS) != 0, False)
                finally:
                    buf._skip = 0
            else:
                status = S_CONTINUE
            if status == S_PENDING:
                self._arrived[side] |= arrived & A_TRAILERS
                return False
            if self._data_status(side, status, complete) != BODY_CONTINUE:
                return False
        if arrived & A_TRAILERS:
            if self._trailers_status(side, self._hook_fn(side, K_TRAILERS)) != TRL_CONTINUE:
                return False
        return not (self._flags & (F_LOCAL_REPLY | F_FAILED))

    # ---- local replies --------------------------------------------------------------------

    cdef int _send_reply_direct(self, int status_code, list pairs, bytes body,
                                bytes details) except -1:
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
            self._flags |= F_LOCAL_REPLY
            self._s.python_busy |= BUSY_REPLIED
            abi.envoy_dynamic_module_callback_http_send_response(
                self._s.envoy_ptr, status_code, arr, n, _mbuf(body), _mbuf(details))
        finally:
            free(arr)
        return 0

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
        """The stream's Callbacks (send_local_reply, continue_request, log, ...)."""
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
    def request_trailers(self):
        return self._headers(HT_REQUEST_TRAILERS)

    @property
    def response_trailers(self):
        return self._headers(HT_RESPONSE_TRAILERS)

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


cdef inline _Shadow _access(Filter f):
    """Liveness check for views and callbacks (f is None once the stream was destroyed)."""
    if f is None:
        raise StreamDestroyedError(
            "the stream this object belonged to has been destroyed; its headers, body and "
            "callbacks can no longer be used (copy what you need while the hook runs)")
    return f._access()


cdef inline void* _direct_envoy_ptr(Filter f) except NULL:
    """For callbacks that only make sense on the worker, not on the shadow copy."""
    if _access(f) is not None:
        raise EnvoyPyextError("not available while a hook of this stream is pending")
    return f._s.envoy_ptr


cdef int _status_of(object result, object fn) except -1:
    if result is None:
        return S_CONTINUE
    if isinstance(result, int) and not isinstance(result, bool):
        if 0 <= result <= S_RUNNING:
            return result
    raise TypeError(f"{getattr(fn, '__qualname__', fn)} returned {result!r}; a hook must "
                    f"return an envoy_pyext.Status or None")


cdef class Callbacks:
    """What a filter can ask of Envoy for its stream: ``self.callbacks``. send_local_reply,
    continue_request and continue_response may be called from any thread while a hook of the
    stream is pending; the runtime applies them on the stream's worker thread."""

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
        cdef Filter f = self._f
        cdef _Shadow sh = _access(f)
        if sh is None:
            f._send_reply_direct(status_code, pairs, body_b, details_b)
        else:
            sh.reply = (status_code, pairs, body_b, details_b)
            f._flags |= F_LOCAL_REPLY
            if f._task is None and f._coro is None and f._pend_side != SIDE_NONE \
                    and not f._has_completion:
                f._complete(False, S_LOCAL_REPLY)  # a thread answered for the pending hook
        return Status.LOCAL_REPLY

    def continue_request(self):
        """Resumes the request after its hook returned Status.RUNNING (any thread)."""
        self._continue(SIDE_REQUEST)

    def continue_response(self):
        """Resumes the response after its hook returned Status.RUNNING (any thread)."""
        self._continue(SIDE_RESPONSE)

    cdef int _continue(self, int side) except -1:
        cdef Filter f = self._f
        _access(f)  # destroyed -> StreamDestroyedError
        name = "request" if side == SIDE_REQUEST else "response"
        if f._pend_side == side:
            if f._task is not None or f._coro is not None:
                raise EnvoyPyextError(f"the {name} waits for a coroutine: return from it instead")
            if f._has_completion:
                raise EnvoyPyextError(f"the {name} was already continued")
            f._complete(False, S_CONTINUE)
        elif f._hook_depth > 0 and f._pend_side == SIDE_NONE:
            f._complete(False, S_CONTINUE)  # before the hook has even returned RUNNING
        elif f._pend_side == SIDE_NONE and (f._flags & _stopped(side)) \
                and PyThread_get_thread_ident() == f._tid:
            f._continue(side)
        else:
            raise EnvoyPyextError(f"the {name} is not waiting to be continued")
        return 0

    @property
    def buffer_limit(self):
        """Envoy's buffer limit for this stream in bytes (0: none). Raise it to buffer bodies
        larger than the listener's default (1 MiB) with STOP_AND_BUFFER; a body over the
        limit is answered 413 (request) or 500 (response) by Envoy."""
        return abi.envoy_dynamic_module_callback_http_get_buffer_limit(_direct_envoy_ptr(self._f))

    @buffer_limit.setter
    def buffer_limit(self, uint64_t limit):
        abi.envoy_dynamic_module_callback_http_set_buffer_limit(_direct_envoy_ptr(self._f), limit)

    @property
    def worker_index(self):
        """The index of the Envoy worker thread running this stream."""
        return abi.envoy_dynamic_module_callback_http_filter_get_worker_index(
            _direct_envoy_ptr(self._f))

    def log(self, level, message):
        """Writes ``message`` to Envoy's log at ``level`` ('info', logging.WARNING, ...)."""
        frame = _sys._getframe(0)  # Cython functions have no frame: 0 is the caller
        _log(_envoy_level(level), str(message), frame.f_code.co_filename, frame.f_lineno)
