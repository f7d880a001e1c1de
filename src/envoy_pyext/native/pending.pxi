# envoy-pyext: Apache-2.0
#
# Pending hooks: a hook that returned a coroutine that suspended, or Status.RUNNING. Envoy holds
# the stream (we returned a stop status, see _outcome) while the work goes on:
#   - a coroutine that yields a bare None (asyncio.sleep(0)) takes its next step on the worker,
#     through Envoy's scheduler (EV_STEP), and keeps using Envoy directly; after _MAX_STEPS
#     such steps in a row it moves to the event-loop thread, so a looping coroutine cannot take
#     the worker from Envoy's other streams, timers and I/O;
#   - a coroutine that waits on a future continues as a Task on the loop thread (aio.pxi);
#   - after RUNNING, the user's thread calls continue_*() or send_local_reply().
# Work that leaves the worker uses a _Shadow copy of the stream. The outcome is recorded on the
# _Pending object (the token: see pending.pxd) and the worker is woken (EV_RESUME); there the
# shadow's writes are replayed, the status goes through _outcome, and what arrived meanwhile is
# delivered (_deliver_arrivals).

cdef enum:
    _MAX_STEPS = 16     # bare-yield steps on the worker in a row before moving to the loop


@cython.freelist(16)
cdef class _Pending:

    cdef int complete(self, bint is_error, object value) except -1:
        """Records the outcome (any thread) and wakes the worker; ignored when the work was
        already completed or abandoned."""
        cdef _Stream st = self.st
        if self.done:
            return 0
        self.done = True
        self.error = is_error
        self.value = value
        if st._pend is self and st._sched != NULL:
            # THREAD: safe from any thread; Envoy runs on_scheduled on the stream's worker.
            abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_RESUME)
        return 0

    def _task_done(self, task):
        # Event-loop thread: the coroutine's Task finished.
        if self.done or self.st._pend is not self:
            return  # abandoned: nobody waits for it
        if task.cancelled():
            self.complete(True, _asyncio.CancelledError("the hook's task was cancelled"))
        elif task.exception() is not None:
            self.complete(True, task.exception())
        else:
            self.complete(False, task.result())


cdef int pending_start(_Stream st, int side, int kind, bint eos, object coro,
                       object yielded) except -1:
    """The hook went asynchronous (worker): `coro` suspended yielding `yielded`, or (coro
    None) the hook returned RUNNING and a thread will complete it."""
    cdef _Pending p = _Pending.__new__(_Pending)
    p.st = st
    p.side = side
    p.kind = kind
    p.eos = eos
    st._pend = p    # before any hand-off: a completion racing with it finds its token
    if st._sched == NULL:
        st._sched = abi.envoy_dynamic_module_callback_http_filter_scheduler_new(st._s.envoy_ptr)
    if kind == K_DATA:
        p.base = st._body(side)._size()
    if coro is None or kind == K_DATA or yielded is not None:
        # Leaving the worker (or a data hook, whose received chunk is addressable only during
        # the hook): from now on the views use a copy.
        p.shadow = _Shadow.snapshot(st, side if kind == K_DATA else SIDE_NONE)
    st._update_busy()
    _stats.pending += 1
    if _stats.pending > _stats.pending_peak:
        _stats.pending_peak = _stats.pending
    if coro is not None:
        _park(p, coro, yielded)
    return 0


cdef int _park(_Pending p, object coro, object yielded) except -1:
    """A pending coroutine suspended: a bare yield steps again on the worker, a future (or too
    many steps in a row) sends it to the event-loop thread."""
    cdef _Stream st = p.st
    if yielded is None and p.steps < _MAX_STEPS:
        p.coro = coro
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_STEP)
        return 0
    if p.shadow is None:
        p.shadow = _Shadow.snapshot(st, SIDE_NONE)
    p.task = _hand_to_loop(coro, yielded, p._task_done)
    return 0


cdef int pending_step(_Stream st) except -1:
    """Worker (on_scheduled): the next step of a coroutine parked here."""
    cdef _Pending p = st._pend
    cdef bint finished
    if p is None or p.coro is None:
        return 0
    coro = p.coro
    p.coro = None
    p.steps += 1
    try:
        value = _step(coro, None, &finished)
    except BaseException as exc:
        p.complete(True, exc)
        return pending_resume(st)
    if st._pend is not p:
        return 0    # the step ended the stream (a local reply): the work was abandoned
    if finished:
        p.complete(False, value)
        return pending_resume(st)
    return _park(p, coro, value)


cdef int _leave(_Stream st) except -1:
    st._pend = None
    _stats.pending -= 1
    st._update_busy()
    return 0


cdef int pending_resume(_Stream st) except -1:
    """Worker (on_scheduled): the pending hook completed. Its writes reach Envoy first, in
    order; then its status is applied as if the hook had returned it now."""
    cdef _Pending p = st._pend
    cdef _Shadow shadow
    cdef _Side* sd
    cdef int status
    if p is None or not p.done:
        return 0    # a stale event (the work was abandoned, or a step event)
    shadow = p.shadow
    _leave(st)
    if _debug:
        st._trace(f"resume {_HOOK_NAMES[p.side][p.kind]}")
    if shadow is not None:
        shadow.replay(st)
    if p.error:
        raise p.value
    status = _status_of(p.value, st._hook_fn(p.side, p.kind))
    if status == S_RUNNING:     # a coroutine handed the rest to a thread
        pending_start(st, p.side, p.kind, p.eos, None, None)
        return 0
    sd = &st._sides[p.side]
    if p.kind == K_DATA:    # data hooks always have a shadow (pending_start)
        sd.seen = shadow.body_skip[p.side] + len(shadow.bodies[p.side])
        _account(st, p.side, status, len(shadow.bodies[p.side]) - p.base, p.eos)
    else:
        sd.seen = 0
        if shadow is not None and shadow.changed[p.side] and not sd.headers_out \
                and len(shadow.bodies[p.side]) != shadow.body_base[p.side]:
            sd.body_changed = True
    return _finish(st, p.side, p.kind, p.eos, status)


cdef int _finish(_Stream st, int side, int kind, bint eos, int status) except -1:
    """Applies a completed pending hook's status (also fail_open's CONTINUE after an error)."""
    cdef int env = _outcome(st, side, kind, status, eos)
    cdef int other = SIDE_RESPONSE if side == SIDE_REQUEST else SIDE_REQUEST
    if st._closed or st._pend is not None:
        return 0
    _deliver_arrivals(st, side, env == _continue_status(kind))
    if st._pend is None and st._sides[other].arrived:
        st._sides[other].seen = 0   # the other direction's hook saw none of what is held
        _deliver_arrivals(st, other, False)
    return 0


cdef int pending_cancel(_Stream st) except -1:
    """Abandons the pending hook (destroy, end of stream, the response overtook the request):
    its coroutine sees CancelledError, its writes are dropped."""
    cdef _Pending p = st._pend
    if p is None:
        return 0
    p.done = True
    _leave(st)
    if _debug:
        st._trace(f"cancel {_HOOK_NAMES[p.side][p.kind]}")
    if p.task is not None:
        _get_event_loop().loop.call_soon_threadsafe(p.task.cancel)
    if p.coro is not None:
        coro = p.coro
        p.coro = None
        _throw_into(coro, _asyncio.CancelledError("the stream went away"))
    return 0
