# envoy-pyext: Apache-2.0
#
# _Stream: the runtime's object for one HTTP stream (fields and THREAD notes: stream.pxd).
# It binds the shim's pyext_stream to the user's Filter, hands out the views, checks every
# access (alive? right thread? pending?), and calls user hooks. What the hooks' results do to
# the stream is the phase machine's job (phase.pxi, events.pxi); asynchronous hooks are
# pending.pxi's.

import contextvars as _contextvars

cdef object _BASE_CONTEXT = _contextvars.copy_context()  # at import: Envoy's main thread, program_init
cdef Py_ssize_t _BASE_CONTEXT_LEN = len(_BASE_CONTEXT)   # (reuse.pxi: an empty one is kept)

cdef extern from *:
    """
    /* A hook called as Python calls a function: (filter, arg) or (filter, arg, end_stream). */
    static inline PyObject* pyext_call_hook(PyObject* fn, PyObject* f, PyObject* arg, int eos,
                                            int with_eos) {
        PyObject* args[3] = {f, arg, eos ? Py_True : Py_False};
        vectorcallfunc call = PyVectorcall_Function(fn);    /* (a Python function has one) */
        if (call != NULL) return call(fn, args, with_eos ? 3 : 2, NULL);
        return PyObject_Vectorcall(fn, args, with_eos ? 3 : 2, NULL);
    }
    """
    object pyext_call_hook(object fn, object f, object arg, int eos, int with_eos)


@cython.freelist(64)
cdef class _Stream:

    def __cinit__(self):
        self._run_side = SIDE_NONE
        self._run_kind = K_NONE
        self._early_status = -1

    cdef int _bind(self, pyext_stream* s, FilterConfig fc, Filter f) except -1:
        self._s = s
        self._fc = fc
        self._filter = f
        self._tid = PyThread_get_thread_ident()
        f._rt = self
        _stats.live_streams += 1
        _stats.filters_created += 1
        return 0

    cdef int _unbind(self) except -1:
        """Envoy destroyed the stream (worker thread): cancel pending work, cut every view off
        (a view user code kept raises StreamDestroyedError), and drop the user's Filter, so
        that all of it is freed by reference counting."""
        if self._s == NULL:
            return 0
        # (whatever these raise, the stream is cut off below: Envoy frees it after this)
        try:
            if self._pend is not None:
                pending_cancel(self)
            if self._callouts:
                callouts_cancel(self, False)    # Envoy already dropped the calls' streams
        except BaseException as e:
            _log(LL_ERROR, f"envoy-pyext: internal error abandoning a destroyed stream's "
                           f"work:\n{_format_exc(e)}")
        if self._sched != NULL:
            abi.envoy_dynamic_module_callback_http_filter_scheduler_delete(self._sched)
            self._sched = NULL
        self._s = NULL
        _stats.live_streams -= 1
        self._cut_views()
        self._v_info = None
        self._v_meta = None
        self._v_fs = None
        self._v_span = None
        if self._spans is not None:
            _spans_finish_all(self)
        self._filter = None
        if self._settle_event is not None:
            self._settle_event.set()
        return 0

    cdef int _cut_views(self) except -1:
        """Cuts the views and callbacks off the stream (a view user code kept raises
        StreamDestroyedError) and drops them."""
        # (one test per view, no tuple: this runs for every stream not recycled)
        if self._v_h0 is not None:
            self._v_h0._st = None
        if self._v_h1 is not None:
            self._v_h1._st = None
        if self._v_h2 is not None:
            self._v_h2._st = None
        if self._v_h3 is not None:
            self._v_h3._st = None
        if self._v_b0 is not None:
            self._v_b0._st = None
        if self._v_b1 is not None:
            self._v_b1._st = None
        if self._callbacks is not None:
            self._callbacks._st = None
        self._v_h0 = self._v_h1 = self._v_h2 = self._v_h3 = None
        self._v_b0 = self._v_b1 = None
        self._callbacks = None
        return 0

    cdef inline HeaderMap _headers(self, int htype):
        # One view per map for the life of the stream: hooks reuse it instead of allocating.
        if self._s == NULL:
            _access(self)  # raises StreamDestroyedError; no view is made for a dead stream
        if htype == HT_REQUEST_HEADERS:
            if self._v_h0 is None:
                self._v_h0 = HeaderMap.new(self, htype)
            return self._v_h0
        if htype == HT_RESPONSE_HEADERS:
            if self._v_h2 is None:
                self._v_h2 = HeaderMap.new(self, htype)
            return self._v_h2
        if htype == HT_REQUEST_TRAILERS:
            if self._v_h1 is None:
                self._v_h1 = HeaderMap.new(self, htype)
            return self._v_h1
        if self._v_h3 is None:
            self._v_h3 = HeaderMap.new(self, htype)
        return self._v_h3

    cdef Buffer _body(self, int side):
        if self._s == NULL:
            _access(self)
        if side == SIDE_REQUEST:
            if self._v_b0 is None:
                self._v_b0 = Buffer.new(self, side)
            return self._v_b0
        if self._v_b1 is None:
            self._v_b1 = Buffer.new(self, side)
        return self._v_b1

    cdef inline object _hook_fn(self, int side, int kind):
        cdef FilterConfig fc = self._fc
        if side == SIDE_REQUEST:
            if kind == K_HEADERS:
                return fc.fn_decode_headers
            return fc.fn_decode_data if kind == K_DATA else fc.fn_decode_trailers
        if kind == K_HEADERS:
            return fc.fn_encode_headers
        return fc.fn_encode_data if kind == K_DATA else fc.fn_encode_trailers

    cdef int _invoke(self, int side, int kind, object fn, object arg, bint eos) except -1:
        """Calls a user hook on the worker. Returns its status, or S_PENDING when it went
        asynchronous (a coroutine that suspended, or RUNNING)."""
        global _hdr_epoch
        cdef object result, ctx = None
        cdef int status
        _hdr_epoch += 1     # Envoy had control before the hook and will after it (headers.pxi)
        self._hook_depth += 1
        self._run_side = side
        self._run_kind = kind
        self._early_status = -1
        try:
            if self._hook_depth == 1:   # (re-entered by Envoy: the context is entered already)
                # What Context.run does, without looking the method up and forwarding the call.
                ctx = self._context()
                pyext_context_enter(ctx)
            try:
                result = pyext_call_hook(fn, self._filter, arg, eos, kind != K_TRAILERS)
            finally:
                if ctx is not None:
                    pyext_context_exit(ctx)
            if result is not None and type(result) is not _StatusType and _is_awaitable(result):
                return run_coroutine(self, side, kind, eos, _as_coroutine(result))
            status = _status_of(result, fn)
            if status == S_RUNNING:
                if self._early_status >= 0:  # the hook continued its own stream already
                    return self._early_status
                pending_start(self, side, kind, eos, None)
                return S_PENDING
            return status
        finally:
            _hdr_epoch += 1
            self._hook_depth -= 1
            self._run_side = SIDE_NONE
            self._run_kind = K_NONE
            if self._settle_event is not None:
                self._settle_event.set()
                self._settle_event = None

    cdef inline object _context(self):
        """The stream's own contextvars context: a copy of the runtime's start-up context, made
        on first use, kept for the stream's life (its sync hooks, coroutines and Tasks)."""
        if self._ctx is None:
            self._ctx = PyContext_Copy(_BASE_CONTEXT)
        return self._ctx

    cdef int _update_busy(self) except -1:
        """Tells the shim whether every event of this stream must reach Python now."""
        cdef uint32_t busy = 0
        cdef int p0 = self._sides[0].phase, p1 = self._sides[1].phase
        if self._s == NULL:
            return 0
        if self._closed or p0 >= P_STOPPED and p0 != P_DONE or p1 >= P_STOPPED and p1 != P_DONE:
            busy |= PYEXT_BUSY_ROUTE_ALL
        if self._pend is not None:
            busy |= PYEXT_BUSY_ROUTE_ALL | PYEXT_BUSY_PENDING
        self._s.python_busy = busy
        return 0

    cdef int _trace(self, str what) except -1:
        _log(LL_DEBUG, f"envoy-pyext: stream {<size_t>self._s:#x} {what}: request "
                       f"{_PHASE_NAMES[self._sides[0].phase]}, response "
                       f"{_PHASE_NAMES[self._sides[1].phase]}"
                       f"{', pending' if self._pend is not None else ''}"
                       f"{', closed' if self._closed else ''}")
        return 0


cdef inline _Shadow _access(_Stream st):
    """The check every view and callback goes through. Returns the pending hook's shadow, or
    None when the caller may use Envoy directly (the stream's worker thread)."""
    global _hdr_epoch
    _hdr_epoch += 1     # what views learnt of Envoy's maps may be stale from here (headers.pxi)
    # The common case inline: the stream's worker, nothing pending.
    if st is not None and st._s != NULL and st._s.envoy_ptr != NULL and st._pend is None \
            and PyThread_get_thread_ident() == st._tid:
        return None
    return _access_checked(st)


cdef _Shadow _access_checked(_Stream st):
    """_access past its common case (the epoch already advanced)."""
    if st is None or st._s == NULL or st._s.envoy_ptr == NULL:
        raise StreamDestroyedError(
            "the stream this object belonged to has been destroyed; its headers, body and "
            "callbacks can no longer be used (copy what you need while the hook runs)")
    cdef _Pending p = st._pend
    if p is not None and p.shadow is not None:
        return p.shadow
    if PyThread_get_thread_ident() == st._tid:
        return None
    cdef object settle
    if st._hook_depth > 0:
        # A thread started by a hook that is still running: wait until the hook has returned
        # (RUNNING makes the shadow), with the GIL released.
        settle = st._settle_event
        if settle is None:
            settle = _threading.Event()   # Python code: the hook may return meanwhile, and
            if st._hook_depth == 0:         # then it found no event to set: do not wait
                return _access(st)
            if st._settle_event is None:
                st._settle_event = settle
            else:
                settle = st._settle_event
        settle.wait(60)
        return _access(st)
    if st._ended or st._s.complete:
        raise StreamDestroyedError(
            "the stream has ended (its response is complete); its headers, body and callbacks "
            "can no longer be used from other threads")
    raise WrongThreadError(
        "Envoy memory can only be used on the stream's Envoy worker thread, or while one of "
        "the stream's hooks is pending (async def, or after returning Status.RUNNING)")


cdef void* _worker_envoy_ptr(_Stream st) except NULL:
    """For calls that only make sense on the worker, not on a pending hook's copy."""
    if _access(st) is not None:
        raise EnvoyPyextError("not available while a hook of this stream is pending")
    return st._s.envoy_ptr
