# envoy-pyext: Apache-2.0
#
# What the runtime does with each Envoy event of a direction (headers, data, trailers): call
# the user's hook when the phase says so, account for body bytes while the length is fixed,
# and let _outcome (phase.pxi) turn the result into Envoy's status. Events that arrive while a
# hook of the stream is pending are held in Envoy and recorded (A_* bits); _deliver_arrivals
# hands them to the hooks, in order, once the pending hook is done.
#
# THREAD: the stream's Envoy worker, GIL held (called from dispatch.pxi and pending.pxi).

cdef enum:
    A_DATA = 1
    A_DATA_EOS = 2
    A_TRAILERS = 4


cdef inline bint _hold_while_pending(_Stream st, int side, int kind):
    """While a hook is pending, does this event wait for it (held in Envoy)?"""
    return st._pend.side == side or st._hook_fn(side, kind) is not None \
        or st._sides[side].phase == P_BUFFERING or st._sides[side].phase == P_STOPPED \
        or (kind == K_TRAILERS and st._hook_fn(side, K_DATA) is not None)


cdef inline int _headers_passed(_Stream st, int side) except -1:
    """A data or trailers event in WAIT: the headers went on without Python (the class has no
    headers hook); from now on the direction streams."""
    cdef _Side* sd = &st._sides[side]
    if sd.phase == P_WAIT:
        sd.headers_out = True
        if st._hook_fn(side, K_DATA) is not None:
            sd.cl_out = st._headers(_htype_of(side, K_HEADERS))._get(
                b"content-length", True) is not None
        _set_phase(st, side, P_STREAMING)
    return 0


cdef inline int ev_headers(_Stream st, int side, bint eos) except -1:
    cdef object fn
    cdef int status = S_CONTINUE
    if _debug:
        st._trace(f"{_SIDE_NAMES[side]} headers eos={eos}")
    if st._closed:
        # Our own local reply (or Envoy's answer to our error) passes the response hooks.
        return HDR_CONTINUE if side == SIDE_RESPONSE else HDR_STOP_ITERATION
    if st._pend is not None:
        # The response started (Envoy or a later filter answered) while request-side work was
        # pending: that work no longer matters; the response hooks run as usual.
        pending_cancel(st)
        _set_phase(st, SIDE_REQUEST, P_DONE)
    fn = st._hook_fn(side, K_HEADERS)
    if fn is not None:
        status = st._invoke(side, K_HEADERS, fn, st._headers(_htype_of(side, K_HEADERS)), eos)
    return _outcome(st, side, K_HEADERS, status, eos)


cdef int ev_data(_Stream st, int side, bint eos) except -1:
    cdef _Side* sd = &st._sides[side]
    cdef object fn = st._hook_fn(side, K_DATA)
    if _debug:
        st._trace(f"{_SIDE_NAMES[side]} data eos={eos}")
    if st._closed:
        return BODY_CONTINUE if side == SIDE_RESPONSE else BODY_STOP_NO_BUFFER
    if st._pend is not None and _hold_while_pending(st, side, K_DATA):
        sd.arrived |= A_DATA | (A_DATA_EOS if eos else 0)
        return BODY_STOP_WATERMARK  # stays in Envoy (back-pressure) until the hook is done
    if sd.phase == P_DONE:
        return BODY_CONTINUE        # the direction was settled (its pending work abandoned)
    _headers_passed(st, side)
    if sd.phase == P_BUFFERING and not eos:
        return BODY_STOP_BUFFER     # the hook sees the whole body once, at the end
    if fn is None:
        if sd.phase == P_BUFFERING or sd.phase == P_STOPPED:
            return _release(st, side, K_DATA, eos)
        _set_phase(st, side, P_DONE if eos else P_STREAMING)
        return BODY_CONTINUE
    return _run_data_hook(st, side, fn, eos, True)


cdef int ev_trailers(_Stream st, int side) except -1:
    cdef _Side* sd = &st._sides[side]
    cdef object fn
    cdef int status = S_CONTINUE, env
    cdef Py_ssize_t before
    if _debug:
        st._trace(f"{_SIDE_NAMES[side]} trailers")
    sd.trailers = True
    if st._closed:
        return TRL_CONTINUE if side == SIDE_RESPONSE else TRL_STOP_ITERATION
    if st._pend is not None and _hold_while_pending(st, side, K_TRAILERS):
        sd.arrived |= A_TRAILERS
        return TRL_STOP_ITERATION
    if sd.phase == P_DONE:
        return TRL_CONTINUE
    _headers_passed(st, side)
    fn = st._hook_fn(side, K_DATA)
    if sd.phase == P_BUFFERING and fn is not None:
        # The body ended with trailers: the data hook gets the whole body now, once.
        env = _run_data_hook(st, side, fn, True, False)
        if st._pend is not None:
            sd.arrived |= A_TRAILERS    # the trailers hook runs when the data hook is done
            return TRL_STOP_ITERATION
        if env != BODY_CONTINUE:
            return TRL_STOP_ITERATION
    fn = st._hook_fn(side, K_TRAILERS)
    if fn is not None:
        before = -1 if sd.headers_out else st._body(side)._size_direct()
        status = st._invoke(side, K_TRAILERS, fn, st._headers(_htype_of(side, K_TRAILERS)), True)
        if before >= 0 and status != S_PENDING and st._s != NULL \
                and st._body(side)._size_direct() != before:
            sd.body_changed = True
    return _outcome(st, side, K_TRAILERS, status, True)


cdef int _run_data_hook(_Stream st, int side, object fn, bint eos, bint received) except -1:
    """Calls the data hook on what Envoy holds for this filter: with the chunk just received
    (a data event) or without it (trailers, data replayed after a resume, where the hook sees
    only bytes it has not seen yet while streaming). Returns Envoy's body status."""
    cdef _Side* sd = &st._sides[side]
    cdef Buffer buf = st._body(side)
    cdef Py_ssize_t before, after
    cdef int status
    buf._in_hook = received
    buf._skip = sd.seen if (not received and sd.phase == P_STREAMING) else 0
    try:
        before = buf._size()
        status = st._invoke(side, K_DATA, fn, buf, eos)
        if status == S_PENDING:
            return _outcome(st, side, K_DATA, status, eos)
        after = buf._size()
        _account(st, side, status, after - before, eos)
        return _outcome(st, side, K_DATA, status, eos)
    finally:
        buf._in_hook = False
        buf._skip = 0
        if buf._exports:
            _stats.escaped_views += 1
            _log(LL_WARN, f"envoy-pyext: {st._fc.name}: a memoryview of the body outlived "
                          f"the hook that made it; it must not be used any more")


cdef int _account(_Stream st, int side, int status, Py_ssize_t change, bint eos) except -1:
    """Body bytes while the headers went on with content-length: what passes on may never
    exceed what arrived, and must equal it at the end, or the peer would read a malformed
    message (a request-smuggling class of bug). Refused with a clear error instead."""
    cdef _Side* sd = &st._sides[side]
    if not (sd.headers_out and sd.cl_out):
        if not sd.headers_out and change:
            sd.body_changed = True
        return 0
    sd.delta += change
    if st._closed or status != S_CONTINUE:
        return 0  # nothing passes on now; checked when it does
    if sd.delta > 0 or (eos and sd.delta != 0):
        raise EnvoyPyextError(
            f"{_HOOK_NAMES[side][K_DATA]} changed the {_SIDE_NAMES[side]} body's length by "
            f"{sd.delta:+d} bytes after the headers went on with content-length: the peer would "
            f"get a malformed message. Remove content-length in "
            f"{_HOOK_NAMES[side][K_HEADERS]} (the body is then framed by Envoy), or return "
            f"Status.STOP_AND_BUFFER from it to rewrite the whole body")
    return 0


cdef int _deliver_arrivals(_Stream st, int side, bint go) except -1:
    """After a pending hook: hands what Envoy delivered meanwhile to the hooks, in order, then
    continues the direction when it may go on. `go`: the completed hook let it go on."""
    cdef _Side* sd = &st._sides[side]
    cdef int arrived = sd.arrived
    cdef object fn
    sd.arrived = 0
    if arrived & A_DATA and not st._closed:
        fn = st._hook_fn(side, K_DATA)
        if sd.phase == P_BUFFERING and not (arrived & (A_DATA_EOS | A_TRAILERS)):
            go = False                  # keep buffering; the hook sees the whole body at the end
        elif fn is None:
            go = _release(st, side, K_DATA, (arrived & A_DATA_EOS) != 0) == BODY_CONTINUE
        elif sd.phase != P_BUFFERING or arrived & A_DATA_EOS:
            go = _run_data_hook(st, side, fn, (arrived & A_DATA_EOS) != 0, False) == BODY_CONTINUE
        if st._pend is not None:        # the data hook went pending again
            sd.arrived |= arrived & A_TRAILERS
            return 0
    if arrived & A_TRAILERS and not st._closed:
        go = ev_trailers(st, side) == TRL_CONTINUE
        if st._pend is not None:
            return 0
    if go and not st._closed:
        _continue_side(st, side)
    return 0
