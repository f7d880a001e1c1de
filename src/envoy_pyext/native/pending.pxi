# envoy-pyext: Apache-2.0
#
# Pending hooks: a hook whose coroutine (an asyncio Task, aio.pxi) suspended, or that returned
# Status.RUNNING. Envoy holds the stream (we returned a stop status, see _outcome) while the
# work goes on:
#   - a Task that yields bare (asyncio.sleep(0)) takes its next step on the worker, through
#     Envoy's scheduler (EV_STEP), and keeps using Envoy directly; after _MAX_STEPS such steps
#     it is left to the event-loop thread, so a looping coroutine cannot take the worker from
#     Envoy's other streams, timers and I/O;
#   - a Task that waits on a future takes its next steps on the loop thread;
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
        # Event-loop thread: the hook's Task finished.
        if self.done or self.st._pend is not self:
            return  # abandoned: nobody waits for it
        try:
            self.complete(False, _task_outcome(task))
        except BaseException as exc:
            self.complete(True, exc)


cdef int pending_start(_Stream st, int side, int kind, bint eos, object task) except -1:
    """The hook went asynchronous (worker): its Task suspended (`task`), or it returned
    RUNNING (task None) and a thread will complete it."""
    cdef _Pending p = _Pending.__new__(_Pending)
    p.st = st
    p.side = side
    p.kind = kind
    p.eos = eos
    p.task = task
    st._pend = p    # before any hand-off: a completion racing with it finds its token
    if st._sched == NULL:
        st._sched = abi.envoy_dynamic_module_callback_http_filter_scheduler_new(st._s.envoy_ptr)
    if kind == K_DATA:
        p.base = st._body(side)._size()
    if task is None or kind == K_DATA:
        # A thread (or a data hook, whose received chunk is addressable only during the hook):
        # from now on the views use a copy.
        p.shadow = _Shadow.snapshot(st, side if kind == K_DATA else SIDE_NONE)
    st._update_busy()
    _stats.pending += 1
    if _stats.pending > _stats.pending_peak:
        _stats.pending_peak = _stats.pending
    return 0


cdef inline object _timer_head(object loop):
    """The loop's earliest timer (its select() timeout was computed from it), or None."""
    if loop is _loop_of_dict:
        return _loop_scheduled[0] if _loop_scheduled else None
    scheduled = loop._scheduled
    return scheduled[0] if scheduled else None


cdef inline bint _loop_needs_wake(object loop, object head):
    """After a step taken on the worker (loop locked): the loop thread must be woken when the
    step left it something to run (a callback, another Task's step, the Task's own next step)
    or a timer earlier than `head`, the one its select() was waiting for when the step began.
    Otherwise it sleeps on: what it already waits for still wakes it (I/O registered from any
    thread, call_soon_threadsafe, its earliest timer), and what the worker settles (an
    http_call's answer: _settle_callout) resumes the Task on the worker."""
    return bool(_loop_ready if loop is _loop_of_dict else loop._ready) or (
        _timer_head(loop) is not head)


cdef int _park(_Pending p, object loop) except -1:
    """After a step of p's Task on the worker (loop locked): a bare yield is taken again on
    the worker through Envoy's scheduler; a Task waiting on a future (or one that yielded bare
    too often in a row) is left to the loop thread, with a copy of the stream for its views
    (the caller then wakes the loop thread if _loop_needs_wake)."""
    cdef _Stream st = p.st
    handle = _take_step(loop, p.task)
    if handle is not None and p.steps < _MAX_STEPS:
        p.handle = handle
        abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_STEP)
        return 0
    if handle is not None:
        loop._ready.append(handle)
    if p.shadow is None:
        p.shadow = _Shadow.snapshot(st, SIDE_NONE)
    p.task.add_done_callback(p._task_done)
    return 0


cdef int run_coroutine(_Stream st, int side, int kind, bint eos, object coro) except -1:
    """A hook returned a coroutine (worker, inside _invoke): it becomes an asyncio Task in the
    stream's context, and its first step runs here. Returns its status if it finished, else
    S_PENDING."""
    cdef bint wake = False, finished
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        head = _timer_head(loop)
        task = _start_task(loop, coro, st._context(), st._fc.carriers, _carrier_slot(side, kind),
                           True)
        if type(task) is _CarrierPark:  # it yielded bare: its next step on this worker
            finished = False
            pending_start(st, side, kind, eos, (<_CarrierPark>task).task)
            st._pend.carrier = task
            abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_STEP)
        else:
            # Decided under the lock: once it is released the loop thread may finish the Task,
            # and a Task that went pending must complete through its token, never inline.
            finished = _task_done(task)
            if not finished:
                pending_start(st, side, kind, eos, task)
                _park(st._pend, loop)
        wake = _loop_needs_wake(loop, head)     # (a finished step may have left work too)
    finally:
        _unlock_loop()
    if wake:
        loop._write_to_self()
    if finished:
        return _status_of(_task_outcome(task), st._hook_fn(side, kind))
    return S_PENDING


cdef int pending_step(_Stream st) except -1:
    """Worker (on_scheduled): the next step of a Task parked here."""
    cdef _Pending p = st._pend
    cdef bint wake = False, finished = False
    if p is None:
        return 0
    if p.carrier is not None:
        return _carrier_step(st, p)
    if p.handle is None:
        return 0
    handle = p.handle
    p.handle = None
    p.steps += 1
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        head = _timer_head(loop)
        _run_step(loop, handle)
        if st._pend is p:
            finished = p.task.done()    # under the lock, as in run_coroutine
            if not finished:
                _park(p, loop)
        wake = _loop_needs_wake(loop, head)
    finally:
        _unlock_loop()
    if wake:
        loop._write_to_self()
    if not finished:
        return 0    # parked again, left to the loop, or abandoned (the step ended the stream)
    try:
        p.complete(False, _task_outcome(p.task))
    except BaseException as exc:
        p.complete(True, exc)
    return pending_resume(st)


cdef int _carrier_step(_Stream st, _Pending p) except -1:
    """Worker (on_scheduled): the next step of a coroutine parked as its carrier
    (firststep.pxi). It parks again after another bare yield, becomes a Task when it waits on
    a future (or was cancelled, or yielded bare _MAX_STEPS times), or finishes."""
    cdef _CarrierPark park = p.carrier
    cdef bint wake = False
    p.carrier = None
    p.steps += 1
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        head = _timer_head(loop)
        out = _carrier_next(loop, park, st._context(), p.steps < _MAX_STEPS)
        if out is park:
            out = None
            if st._pend is p:
                p.carrier = park
                abi.envoy_dynamic_module_callback_http_filter_scheduler_commit(st._sched, EV_STEP)
            else:   # the step ended its stream: as a Task, it gets pending_cancel's cancel
                _unpark(loop, park, st._context())
        elif type(out) is _Finished:
            _carrier_release(park, <_Finished>out)     # (before the record is read)
            if st._pend is p:
                # Completed while p.task is still set: a thread must not take the token for
                # a RUNNING hook's (callbacks.pxi, streamctl.pxi).
                try:
                    p.complete(False, (<_Finished>out).outcome())
                except BaseException as exc:
                    p.complete(True, exc)
            else:
                out = None
            p.task = None
        else:
            p.task = out    # the Task it became
            out = None
            if st._pend is p:
                _park(p, loop)
        wake = _loop_needs_wake(loop, head)
    finally:
        _unlock_loop()
    if wake:
        loop._write_to_self()
    if out is None:
        return 0    # parked again, a Task now, or abandoned (the step ended the stream)
    return pending_resume(st)


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
    if st._closed:              # the hook ended the stream (a reply, a reset, ...): no more
        return _outcome(st, p.side, p.kind, status, p.eos)
    if status == S_RUNNING:     # a coroutine handed the rest to a thread
        pending_start(st, p.side, p.kind, p.eos, None)
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
    its Task sees CancelledError at its current await (on the loop thread), its writes are
    dropped."""
    cdef _Pending p = st._pend
    cdef str hook
    cdef _Detached watch
    if p is None:
        return 0
    hook = _HOOK_NAMES[p.side][p.kind]
    completed = p.done
    p.done = True
    _leave(st)
    if p.shadow is not None:
        _metrics_salvage(st, p.shadow)  # its metric updates still count (metrics.pxi)
    if _debug:
        st._trace(f"cancel {hook}")
    if completed:
        if p.error and not isinstance(p.value, _asyncio.CancelledError):
            # It raised, and the stream ended before the worker could answer the error.
            _late_error(st._fc, f"{hook} raised before its stream ended", p.value)
        return 0
    if p.task is None:
        return 0
    # What the Task raises from now on (it may catch the CancelledError) is counted too.
    watch = _Detached.new(st._fc, f"{hook} raised after its stream ended")
    loop = _get_event_loop().loop
    if p.carrier is not None:   # parked as its carrier: it becomes a Task, then as below
        _lock_loop()
        try:
            task = _unpark(loop, <_CarrierPark>p.carrier, st._context())
            p.carrier = None
            task.add_done_callback(watch)
            task.cancel()
        finally:
            _unlock_loop()
        loop._write_to_self()
        return 0
    if p.handle is not None:    # parked on the worker: its next step goes to the loop
        _lock_loop()
        try:
            p.task.add_done_callback(watch)
            p.task.cancel()
            loop._ready.append(p.handle)
            p.handle = None
        finally:
            _unlock_loop()
        loop._write_to_self()
    else:
        loop.call_soon_threadsafe(_cancel_watched, p.task, watch)
    return 0


def _cancel_watched(task, watch):
    # Event-loop thread: the Task of an abandoned hook.
    task.add_done_callback(watch)
    task.cancel()
