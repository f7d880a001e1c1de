# envoy-pyext: Apache-2.0
#
# The functions the C++ shim calls, with the GIL held, on Envoy's threads: one generic entry for
# the six header/data/trailers events (_dispatch), and the error barrier (_fail). Nothing
# raised by user code (or by us) crosses into Envoy: a failure is logged with its traceback,
# counted, and answered fail-closed (a 500 while the response has not started, a reset after)
# unless the filter class sets fail_open = True, which lets the stream go on as if the hook
# had returned CONTINUE.

cdef bint _bootstrapped = False


cdef public int pyext_bootstrap() noexcept:
    """Runs once in Envoy, after the interpreter started (cpp/module.cc)."""
    global _bootstrapped
    try:
        import threading  # noqa: F401  (records Envoy's main thread as Python's main thread)
        root = _logging.getLogger()
        if not any(isinstance(h, EnvoyLogHandler) for h in root.handlers):
            handler = EnvoyLogHandler()
            handler.setFormatter(_logging.Formatter("%(name)s: %(message)s"))
            root.addHandler(handler)
        root.setLevel(_python_level_of_envoy())
        if not _sys.argv:
            _sys.argv = ["envoy"]
        _bootstrapped = True
        return 0
    except BaseException as e:
        _log(LL_CRITICAL, f"envoy-pyext: start-up failed:\n{_format_exc(e)}")
        return -1


cdef public pyext_config* pyext_on_config_new(void* config_envoy_ptr, const char* name,
                                              size_t name_length, const char* config,
                                              size_t config_length) noexcept:
    return _config_new(config_envoy_ptr, name, name_length, config, config_length, NULL, 0,
                       NULL, NULL)


cdef public pyext_config* pyext_on_config_new_per_worker(
        void* config_envoy_ptr, const char* name, size_t name_length, const char* config,
        size_t config_length, const char* ids, size_t ids_length, char** ids_out,
        size_t* ids_out_length) noexcept:
    """A per_worker config in this sub-interpreter (cpp/interp.cc). The check load (`ids`
    NULL; Envoy's main thread, inside its config_new) defines the metrics in Envoy and hands
    their ids out (*ids_out, malloc'd); a worker's load gets them in `ids` (interp.pxi)."""
    return _config_new(config_envoy_ptr, name, name_length, config, config_length, ids,
                       ids_length, ids_out, ids_out_length)


cdef pyext_config* _config_new(void* config_envoy_ptr, const char* name, size_t name_length,
                               const char* config, size_t config_length, const char* ids,
                               size_t ids_length, char** ids_out,
                               size_t* ids_out_length) noexcept:
    cdef FilterConfig fc
    cdef pyext_config* c
    _maybe_reap()
    try:
        name_s = PyUnicode_DecodeUTF8(name, name_length, "surrogateescape")
        raw_s = PyUnicode_DecodeUTF8(config, config_length, "surrogateescape")
        if _wants_per_worker(name_s, raw_s):
            return _per_worker_config()   # loaded in each worker's interpreter (interp.pxi)
        fc = FilterConfig.load(name_s, raw_s, config_envoy_ptr,
                               None if ids == NULL else _worker_ids_parse(ids, ids_length))
        c = <pyext_config*>calloc(1, sizeof(pyext_config))
        if c == NULL:
            raise MemoryError()
        if ids_out != NULL and not _worker_ids_out(fc, ids_out, ids_out_length):
            free(c)
            raise MemoryError()
        c.events = fc.events
        c.py = <PyObject*>fc
        Py_INCREF(fc)
        fc._c = c
        if fc.code.reload:
            # Development reload: new code may override other hooks than this version does,
            # so every event reaches Python (each stream dispatches by its own version's hooks).
            c.events = _EV_ALL
            fc._live = _LiveConfig.__new__(_LiveConfig)
            fc._live._c = c
            try:
                _code_loader().watch(fc._live)
            except BaseException as e:
                _log(LL_ERROR, f"envoy-pyext: {fc.name}: reload is off, watching failed:\n"
                               f"{_format_exc(e)}")
        _reap()   # a version this load replaced may have had no user left
        return c
    except FilterConfigError as e:
        _log(LL_CRITICAL, str(e))
    except BaseException as e:
        _log(LL_CRITICAL, f"envoy-pyext: loading filter config failed:\n{_format_exc(e)}")
    return NULL


cdef public void pyext_on_config_destroy(pyext_config* c) noexcept:
    if c == NULL:
        return
    cdef PyObject* fc = c.py
    cdef _LiveConfig live = (<FilterConfig>fc)._live
    if live is not None:
        live._c = NULL
        try:
            _code_loader().unwatch(live)
        except BaseException:
            pass
    c.py = NULL
    free(c)
    _drop_spares(<FilterConfig>fc)
    try:
        if (<FilterConfig>fc).context is not None:
            (<FilterConfig>fc).context.close()   # spawned coroutines, config-level calls
    except BaseException as e:
        _log(LL_ERROR, f"envoy-pyext: closing a filter config:\n{_format_exc(e)}")
    Py_DECREF(<object>fc)
    _maybe_reap()


cdef inline _Stream _stream_of(pyext_stream* s):
    if s.py != NULL:
        return <_Stream>s.py
    cdef _Stream st = (<FilterConfig>s.config.py).new_stream(s)
    Py_INCREF(st)
    s.py = <PyObject*>st
    return st


cdef int _fail(_Stream st, int side, str hook) noexcept:
    """Answers an exception raised in `hook`. Returns 1 when the stream stops, 0 when it goes
    on (fail_open, or nothing to answer). Must be called from inside the `except` block."""
    cdef FilterConfig fc
    cdef bytes body, details
    cdef abi.envoy_dynamic_module_type_module_http_header hdr
    cdef bint reset
    try:
        fc = st._fc
        _stats.errors += 1
        fc.count_error()
        reset = side == SIDE_RESPONSE and st._sides[SIDE_RESPONSE].headers_out
        if side == SIDE_NONE:
            action = "logged only"
        elif fc.fail_open:
            action = "continuing (fail_open)"
        else:
            action = "resetting the stream" if reset else "answering 500"
        exc = _sys.exc_info()[1]
        site = _user_site(exc)
        _log(LL_ERROR, f"envoy-pyext: {fc.name}.{hook} raised; {action}:\n{_format_exc(exc)}",
             site[0], site[1])
        if side == SIDE_NONE or st._s == NULL or st._s.envoy_ptr == NULL:
            return 0
        if fc.fail_open:
            return 0
        if st._closed:
            return 1
        _close(st)
        if reset:
            details = b"envoy_pyext_filter_error"
            abi.envoy_dynamic_module_callback_http_filter_reset_stream(
                st._s.envoy_ptr,
                abi.envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset,
                _mbuf(details))
            return 1
        # Envoy sends this through the filter chain, or straight to the client when the
        # response already started in the chain, or resets when it already went out.
        body = b"Internal Server Error\n"
        details = b"envoy_pyext_filter_error"
        hdr.key_ptr = b"content-type"
        hdr.key_length = 12
        hdr.value_ptr = b"text/plain"
        hdr.value_length = 10
        abi.envoy_dynamic_module_callback_http_send_response(
            st._s.envoy_ptr, 500, &hdr, 1, _mbuf(body), _mbuf(details))
        return 1
    except BaseException:
        return 1


cdef int _dispatch_run(pyext_stream* s, int side, int kind, bint eos) except -1:
    """The phase machine for one header/data/trailers event (_dispatch answers what it raises)."""
    cdef _Stream st = _stream_of(s)
    if st._init_error is not None:
        error, st._init_error = st._init_error, None
        raise error     # the Filter's __init__ raised: answered like a hook's exception
    if kind == K_HEADERS:
        return ev_headers(st, side, eos)
    if kind == K_DATA:
        return ev_data(st, side, eos)
    return ev_trailers(st, side)


# _dispatch_run called as what it is at the C level: a function that returns -1 with the
# exception set. Called through this type, Cython adds no handler around the call: the handler
# (_dispatch_failed) and the try block's save/restore of the exception state stay off the way
# every event takes.
ctypedef int (*_RunFn)(pyext_stream*, int, int, bint) noexcept


cdef inline int _dispatch(pyext_stream* s, int side, int kind, bint eos) noexcept:
    """The entry of every header/data/trailers event: the phase machine, behind the barrier."""
    cdef int r = (<_RunFn>_dispatch_run)(s, side, kind, eos)
    if r != -1:
        return r
    return _dispatch_failed(s, side, kind, eos)


from cpython.exc cimport PyErr_Occurred


cdef int _raise_pending() except -1:
    if PyErr_Occurred() == NULL:    # (not expected: -1 comes with an exception)
        raise SystemError("envoy-pyext: an event's handling failed without an exception")
    return -1   # (the exception _dispatch_run left set is raised from here)


cdef int _dispatch_failed(pyext_stream* s, int side, int kind, bint eos) noexcept:
    """Answers the exception _dispatch_run raised (set when this is called)."""
    cdef _Stream st = <_Stream>s.py if s.py != NULL else None  # None: creating it failed
    try:
        _raise_pending()
    except BaseException:
        if st is None:
            _log(LL_CRITICAL, f"envoy-pyext: creating the filter failed:\n"
                              f"{_format_exc(_sys.exc_info()[1])}")
            return _stop_status(kind)
        if _fail(st, side, _HOOK_NAMES[side][kind]):
            return _stop_status(kind)
        try:  # fail_open: as if the hook had returned CONTINUE
            return _outcome(st, side, kind, S_CONTINUE, eos or kind == K_TRAILERS)
        except BaseException:
            return _continue_status(kind)
    return _stop_status(kind)  # (not reached: _raise_pending always raises)


cdef public int pyext_on_request_headers(pyext_stream* s, int end_of_stream) noexcept:
    return _dispatch(s, SIDE_REQUEST, K_HEADERS, end_of_stream)


cdef public int pyext_on_request_body(pyext_stream* s, int end_of_stream) noexcept:
    return _dispatch(s, SIDE_REQUEST, K_DATA, end_of_stream)


cdef public int pyext_on_request_trailers(pyext_stream* s) noexcept:
    return _dispatch(s, SIDE_REQUEST, K_TRAILERS, True)


cdef public int pyext_on_response_headers(pyext_stream* s, int end_of_stream) noexcept:
    return _dispatch(s, SIDE_RESPONSE, K_HEADERS, end_of_stream)


cdef public int pyext_on_response_body(pyext_stream* s, int end_of_stream) noexcept:
    return _dispatch(s, SIDE_RESPONSE, K_DATA, end_of_stream)


cdef public int pyext_on_response_trailers(pyext_stream* s) noexcept:
    return _dispatch(s, SIDE_RESPONSE, K_TRAILERS, True)


cdef public void pyext_on_stream_complete(pyext_stream* s) noexcept:
    cdef _Stream st = None
    try:
        st = _stream_of(s)
        st._ended = True
        if st._init_error is not None:
            error, st._init_error = st._init_error, None
            raise error
        if st._pend is not None:
            pending_cancel(st)  # the stream is over: on_log must not overlap pending work
        callouts_cancel(st, True)
        if st._fc.fn_on_log is not None:
            # In a copy of the stream's context: on_log may run inside another hook of the
            # stream (when that hook ended it), where the context itself is entered.
            _run_detached(st, st._context().copy().run(st._fc.fn_on_log, st._filter), "on_log")
    except BaseException:
        if st is not None:
            _fail(st, SIDE_NONE, "on_log")


cdef public void pyext_on_destroy(pyext_stream* s) noexcept:
    # OWNERSHIP: after this returns the shim frees `s`; the _Stream forgets it first, so a
    # Filter or view user code kept raises StreamDestroyedError instead of reaching freed memory.
    cdef PyObject* obj = s.py
    cdef _Stream st
    cdef object f
    if obj == NULL:
        return
    st = <_Stream>obj
    s.py = NULL
    s.envoy_ptr = NULL
    if st._fc.fn_on_destroy is None and _recycle(st):    # kept for the next stream (reuse.pxi)
        Py_DECREF(st)
        _maybe_reap()
        return
    f = st._filter
    try:
        st._unbind()
        if st._fc.fn_on_destroy is not None:
            _run_detached(st, st._context().copy().run(st._fc.fn_on_destroy, f), "on_destroy")
    except BaseException:
        _fail(st, SIDE_NONE, "on_destroy")
    finally:
        f = None
        Py_DECREF(st)
    _maybe_reap()


cdef public void pyext_on_scheduled(pyext_stream* s, uint64_t event_id) noexcept:
    # Worker thread: a pending hook finished (coroutine done, continue_request() & co), or a
    # coroutine parked on this worker takes its next step.
    cdef _Stream st
    cdef _Pending p
    if s.py == NULL:
        return
    st = <_Stream>s.py
    p = st._pend
    try:
        if event_id == EV_STEP:
            pending_step(st)
        elif event_id == EV_CALLOUT:
            callouts_run_queued(st)
        else:
            pending_resume(st)
    except BaseException:
        if p is None:
            _fail(st, SIDE_NONE, "async hook" if event_id != EV_CALLOUT else "http_call")
        elif _fail(st, p.side, _HOOK_NAMES[p.side][p.kind]) == 0 and st._pend is None \
                and st._s != NULL and st._s.envoy_ptr != NULL:
            try:  # fail_open: the stream goes on as if the hook had returned CONTINUE
                _finish(st, p.side, p.kind, p.eos, S_CONTINUE)
                if st._sides[p.side].phase == P_STREAMING or st._sides[p.side].phase == P_DONE:
                    pass
            except BaseException:
                _fail(st, SIDE_NONE, "async hook")
