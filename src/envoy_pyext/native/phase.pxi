# envoy-pyext: Apache-2.0
#
# The phase machine. Each direction of a stream (request, response) has a Phase (stream.pxd).
# _set_phase is the only place a phase changes, and it checks the change against _LEGAL;
# ENVOY_PYEXT_DEBUG=1 logs every change. _outcome is the only place that turns a hook's Status
# into Envoy's status. The rule behind both: every stop has a guaranteed way on. A direction
# that stops either has a later event that will reach a hook or the runtime (data, trailers,
# a pending hook's completion), or the stop is refused as an error, answered fail-closed.
#
# Transitions (from -> to), per direction:
#   WAIT      -> STREAMING, STOPPED, BUFFERING, PENDING, DONE, CLOSED
#   STREAMING -> STREAMING, STOPPED, BUFFERING, PENDING, DONE, CLOSED
#   STOPPED   -> STREAMING, STOPPED, BUFFERING, PENDING, DONE, CLOSED
#   BUFFERING -> STREAMING, BUFFERING, PENDING, DONE, CLOSED  (STREAMING: body handed over at
#                trailers, the trailers still to pass)
#   PENDING   -> STREAMING, STOPPED, BUFFERING, PENDING, DONE, CLOSED
#   DONE      -> DONE, CLOSED
#   CLOSED    -> CLOSED

_PHASE_NAMES = ("WAIT", "STREAMING", "STOPPED", "BUFFERING", "PENDING", "DONE", "CLOSED")

cdef bint _LEGAL[7][7]


cdef _init_legal():
    cdef int a, b
    table = {
        P_WAIT: (P_STREAMING, P_STOPPED, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED),
        P_STREAMING: (P_STREAMING, P_STOPPED, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED),
        P_STOPPED: (P_STREAMING, P_STOPPED, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED),
        P_BUFFERING: (P_STREAMING, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED),
        P_PENDING: (P_STREAMING, P_STOPPED, P_BUFFERING, P_PENDING, P_DONE, P_CLOSED),
        P_DONE: (P_DONE, P_CLOSED),
        P_CLOSED: (P_CLOSED,),
    }
    for a in range(P_COUNT):
        for b in range(P_COUNT):
            _LEGAL[a][b] = b in table[a]


_init_legal()


def _phase_table():
    """The legal phase changes, as {from: [to, ...]} by name (for tests and docs)."""
    return {_PHASE_NAMES[a]: [_PHASE_NAMES[b] for b in range(P_COUNT) if _LEGAL[a][b]]
            for a in range(P_COUNT)}


cdef int _set_phase(_Stream st, int side, int phase) except -1:
    cdef int old = st._sides[side].phase
    if not _LEGAL[old][phase]:
        raise EnvoyPyextError(f"envoy-pyext internal error: {_SIDE_NAMES[side]} phase "
                              f"{_PHASE_NAMES[old]} -> {_PHASE_NAMES[phase]} is not allowed")
    st._sides[side].phase = phase
    if _debug and old != phase:
        st._trace(f"{_SIDE_NAMES[side]} {_PHASE_NAMES[old]} -> {_PHASE_NAMES[phase]}")
    st._update_busy()
    return 0


cdef inline int _stop_status(int kind) noexcept:
    if kind == K_HEADERS:
        return HDR_STOP_ITERATION
    return BODY_STOP_NO_BUFFER if kind == K_DATA else TRL_STOP_ITERATION


cdef inline int _continue_status(int kind) noexcept:
    if kind == K_HEADERS:
        return HDR_CONTINUE
    return BODY_CONTINUE if kind == K_DATA else TRL_CONTINUE


cdef inline int _outcome(_Stream st, int side, int kind, int status, bint eos) except -1:
    """What a hook's status means: sets the direction's phase, returns Envoy's status."""
    cdef _Side* sd = &st._sides[side]
    if status == S_CONTINUE and kind == K_HEADERS and sd.phase == P_WAIT and not st._closed \
            and st._pend is None and st._s != NULL and st._s.python_busy == 0 and not _debug \
            and st._hook_fn(side, K_DATA) is None:
        # The common case, as _release does it: headers the hook let through go on; the
        # direction streams (or is done); nothing that routes events to Python changes. (A
        # data hook on that side needs _release's cl_out and delta.)
        sd.headers_out = True
        sd.phase = P_DONE if eos else P_STREAMING
        return HDR_CONTINUE
    return _outcome_checked(st, side, kind, status, eos)


cdef int _outcome_checked(_Stream st, int side, int kind, int status, bint eos) except -1:
    """_outcome past its common case."""
    cdef bint complete = eos or kind == K_TRAILERS
    cdef object name
    if st._closed:
        _set_phase(st, side, P_CLOSED)
        return _stop_status(kind)
    if status == S_PENDING:
        _set_phase(st, side, P_PENDING)
        if kind == K_HEADERS:
            # Only the headers stop: body chunks keep coming to us (the shim routes every event
            # while a hook is pending) and are held in Envoy with watermark back-pressure until
            # the hook is done. (StopAllIteration would make Envoy deliver them only after a
            # continue, which would also release the headers.)
            return HDR_STOP_ITERATION
        return BODY_STOP_WATERMARK if kind == K_DATA else TRL_STOP_ITERATION
    if status == S_CONTINUE:
        return _release(st, side, kind, complete)
    name = _HOOK_NAMES[side][kind]
    if status == S_RESET:
        raise EnvoyPyextError(f"{name} returned Status.RESET, which only on_local_reply may "
                              f"return")
    if status == S_LOCAL_REPLY:
        raise EnvoyPyextError(f"{name} returned Status.LOCAL_REPLY but sent no local reply "
                              f"(call self.callbacks.send_local_reply(...))")
    if complete and status == S_STOP_NO_BUFFER:
        raise EnvoyPyextError(
            f"{name} returned Status.{_STATUS_NAMES[status]} at the end of the "
            f"{_SIDE_NAMES[side]}: nothing would ever continue it; return CONTINUE, or "
            f"RUNNING and call continue_{_SIDE_NAMES[side]}() when done")
    if complete:  # STOP_AND_BUFFER(_WATERMARK) at the end (or in trailers): nothing to wait for
        return _release(st, side, kind, True)
    if kind == K_HEADERS:
        if status == S_STOP_AND_BUFFER or st._hook_fn(side, K_DATA) is None:
            _set_phase(st, side, P_BUFFERING)   # the runtime holds the headers until the end
        else:
            _set_phase(st, side, P_STOPPED)     # the data hook decides chunk by chunk
        return HDR_STOP_ITERATION
    if status == S_STOP_AND_BUFFER:
        _set_phase(st, side, P_BUFFERING)
        return BODY_STOP_BUFFER
    _set_phase(st, side, P_STOPPED)
    return BODY_STOP_WATERMARK if status == S_STOP_AND_BUFFER_WATERMARK else BODY_STOP_NO_BUFFER


cdef int _release(_Stream st, int side, int kind, bint complete) except -1:
    """The direction goes on. Headers the runtime held get a content-length that matches the
    body when it changed (exact when the whole body is known, else removed: Envoy then frames
    the body itself). Returns Envoy's continue status for `kind`."""
    cdef _Side* sd = &st._sides[side]
    cdef HeaderMap h
    if not sd.headers_out:
        # A whole body handed over at trailers time goes on only with the trailers: until then
        # Envoy still holds the headers (an error then is still answered with a clean 500).
        sd.headers_out = kind == K_TRAILERS or not sd.trailers
        if kind != K_HEADERS or st._hook_fn(side, K_DATA) is not None:
            h = st._headers(_htype_of(side, K_HEADERS))
            if sd.body_changed and h._get(b"content-length", True) is not None:
                if complete:
                    h._write(b"content-length", st._body(side)._size_direct(), False)
                else:
                    h._remove(b"content-length")
            sd.cl_out = h._get(b"content-length", True) is not None
            sd.delta = 0
    # The direction is DONE once its end went on: the trailers, or the last data when no
    # trailers follow (a whole body handed over at trailers time still has them to pass).
    _set_phase(st, side, P_DONE if complete and (kind == K_TRAILERS or not sd.trailers)
               else P_STREAMING)
    return _continue_status(kind)


cdef int _continue_side(_Stream st, int side) except -1:
    """Tells Envoy that a direction we stopped goes on (worker thread)."""
    if _debug:
        st._trace(f"continue {_SIDE_NAMES[side]}")
    st._sides[side].seen = 0
    if side == SIDE_REQUEST:
        abi.envoy_dynamic_module_callback_http_filter_continue_decoding(st._s.envoy_ptr)
    else:
        abi.envoy_dynamic_module_callback_http_filter_continue_encoding(st._s.envoy_ptr)
    return 0


cdef int _check_body_write(_Stream st, int side) except -1:
    """A body may be written where its HTTP framing stays right: in the direction's own data
    or trailers hook, or while the runtime holds the direction's headers (they then get a
    fixed content-length). Anywhere else the write is refused, never dropped or misframed.
    Returns 1 where the body's length is fixed (its trailers hook after the headers went on
    with content-length): the caller lets only a same-length write through
    (_check_same_length); 0 where any write is fine."""
    cdef _Side* sd = &st._sides[side]
    cdef _Pending p = st._pend
    cdef int kind = st._run_kind, run_side = st._run_side
    if p is not None and p.shadow is not None:
        kind = p.kind
        run_side = p.side
    if run_side == side and kind == K_DATA:
        return 0
    if run_side == side and kind == K_TRAILERS:
        return 1 if sd.cl_out else 0
    if not sd.headers_out and (sd.phase == P_BUFFERING or sd.phase == P_STOPPED):
        return 0
    if run_side == side and kind == K_HEADERS:
        raise EnvoyPyextError(
            f"the {_SIDE_NAMES[side]} body has not arrived yet in {_HOOK_NAMES[side][K_HEADERS]}; "
            f"write it in {_HOOK_NAMES[side][K_DATA]} (return Status.STOP_AND_BUFFER from "
            f"{_HOOK_NAMES[side][K_HEADERS]} to get the whole body there)")
    raise EnvoyPyextError(
        f"the {_SIDE_NAMES[side]} body cannot be written here (its {_SIDE_NAMES[side]} is "
        f"{_PHASE_NAMES[sd.phase]}): write it in {_HOOK_NAMES[side][K_DATA]}")


cdef int _check_same_length(int side, Py_ssize_t change) except -1:
    """A write that changes the body's length by `change` bytes where the length is fixed
    (_check_body_write returned 1): refused unless `change` is 0."""
    if change != 0:
        raise EnvoyPyextError(
            f"the {_SIDE_NAMES[side]} body cannot {'grow' if change > 0 else 'shrink'} "
            f"({change:+d} bytes) in {_HOOK_NAMES[side][K_TRAILERS]}: its headers already went "
            f"on with content-length (an edit of the same length is fine: upper(), lower(), "
            f"translate(), set() of as many bytes)")
    return 0


cdef int _close(_Stream st) except -1:
    """A local reply went out or an error was answered: nothing of the stream passes on."""
    st._closed = True
    _set_phase(st, SIDE_REQUEST, P_CLOSED)
    _set_phase(st, SIDE_RESPONSE, P_CLOSED)
    return 0
