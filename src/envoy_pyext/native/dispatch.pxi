# envoy-pyext: Apache-2.0
#
# The functions the C++ shim calls, with the GIL held, on Envoy's threads. This is the exception
# barrier: nothing raised by user code (or by us) crosses into Envoy. A failure is logged with
# its traceback, counted, and answered fail-closed (a 500 on the request path, a reset on the
# response path) unless the filter class sets fail_open = True.

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
    cdef FilterConfig fc
    cdef pyext_config* c
    try:
        fc = FilterConfig.load(PyUnicode_DecodeUTF8(name, name_length, "surrogateescape"),
                               PyUnicode_DecodeUTF8(config, config_length, "surrogateescape"),
                               config_envoy_ptr)
        c = <pyext_config*>calloc(1, sizeof(pyext_config))
        if c == NULL:
            raise MemoryError()
        c.hooks = fc.hooks
        c.py = <PyObject*>fc
        Py_INCREF(fc)
        fc._c = c
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
    c.py = NULL
    free(c)
    Py_DECREF(<object>fc)


cdef inline Filter _filter_of(pyext_stream* s):
    if s.py != NULL:
        return <Filter>s.py
    cdef Filter f = (<FilterConfig>s.config.py).new_filter(s)
    Py_INCREF(f)
    s.py = <PyObject*>f
    return f


cdef int _fail(pyext_stream* s, int side, str hook) noexcept:
    """Answers an exception raised in `hook`. Returns 1 when the stream must stop, 0 when it
    may continue (fail_open). Must be called from inside the `except` block."""
    cdef FilterConfig fc
    cdef Filter f = None
    cdef bytes body, details
    cdef abi.envoy_dynamic_module_type_module_http_header hdr
    try:
        fc = <FilterConfig>s.config.py
        if s.py != NULL:
            f = <Filter>s.py
        _stats.errors += 1
        _log(LL_ERROR, f"envoy-pyext: {fc.name}.{hook} raised; "
                       f"{'continuing (fail_open)' if fc.fail_open else _FAIL_ACTION[side]}:\n"
                       f"{_traceback.format_exc()}")
        fc.count_error()
        if side == SIDE_NONE:
            return 0
        if fc.fail_open:
            if f is not None:
                f._flags &= ~(F_REQ_HELD | F_REQ_BUFFER | F_RESP_HELD | F_RESP_BUFFER)
            return 0
        already_replied = f is not None and (f._flags & (F_LOCAL_REPLY | F_FAILED))
        if f is not None:
            f._flags |= F_FAILED
        s.python_busy |= PYEXT_BUSY_REPLIED
        if already_replied:
            return 1
        if side == SIDE_REQUEST:
            body = b"Internal Server Error\n"
            details = b"envoy_pyext_filter_error"
            hdr.key_ptr = b"content-type"
            hdr.key_length = 12
            hdr.value_ptr = b"text/plain"
            hdr.value_length = 10
            abi.envoy_dynamic_module_callback_http_send_response(
                s.envoy_ptr, 500, &hdr, 1, _mbuf(body), _mbuf(details))
        else:
            details = b"envoy_pyext_filter_error"
            abi.envoy_dynamic_module_callback_http_filter_reset_stream(
                s.envoy_ptr,
                abi.envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset,
                _mbuf(details))
        return 1
    except BaseException:
        return 1


_FAIL_ACTION = ("answering 500", "resetting the stream", "logged only")


cdef public int pyext_on_request_headers(pyext_stream* s, int end_of_stream) noexcept:
    try:
        return _filter_of(s)._on_headers(SIDE_REQUEST, end_of_stream)
    except BaseException:
        return HDR_STOP_ITERATION if _fail(s, SIDE_REQUEST, "decode_headers") else HDR_CONTINUE


cdef public int pyext_on_request_body(pyext_stream* s, int end_of_stream) noexcept:
    try:
        return _filter_of(s)._on_data(SIDE_REQUEST, end_of_stream)
    except BaseException:
        return BODY_STOP_NO_BUFFER if _fail(s, SIDE_REQUEST, "decode_data") else BODY_CONTINUE


cdef public int pyext_on_request_trailers(pyext_stream* s) noexcept:
    try:
        return _filter_of(s)._on_trailers(SIDE_REQUEST)
    except BaseException:
        return TRL_STOP_ITERATION if _fail(s, SIDE_REQUEST, "decode_trailers") else TRL_CONTINUE


cdef public int pyext_on_response_headers(pyext_stream* s, int end_of_stream) noexcept:
    try:
        return _filter_of(s)._on_headers(SIDE_RESPONSE, end_of_stream)
    except BaseException:
        return HDR_STOP_ITERATION if _fail(s, SIDE_RESPONSE, "encode_headers") else HDR_CONTINUE


cdef public int pyext_on_response_body(pyext_stream* s, int end_of_stream) noexcept:
    try:
        return _filter_of(s)._on_data(SIDE_RESPONSE, end_of_stream)
    except BaseException:
        return BODY_STOP_NO_BUFFER if _fail(s, SIDE_RESPONSE, "encode_data") else BODY_CONTINUE


cdef public int pyext_on_response_trailers(pyext_stream* s) noexcept:
    try:
        return _filter_of(s)._on_trailers(SIDE_RESPONSE)
    except BaseException:
        return TRL_STOP_ITERATION if _fail(s, SIDE_RESPONSE, "encode_trailers") else TRL_CONTINUE


cdef public void pyext_on_stream_complete(pyext_stream* s) noexcept:
    cdef Filter f
    try:
        f = _filter_of(s)
        if f._pend_side != SIDE_NONE:
            f._cancel_pending()  # the stream is over: on_log must not overlap pending work
        if f._fc.fn_on_log is not None:
            _run_detached(f._fc.fn_on_log(f))
    except BaseException:
        _fail(s, SIDE_NONE, "on_log")


cdef public void pyext_on_destroy(pyext_stream* s) noexcept:
    # OWNERSHIP: after this returns the shim frees `s`; the Filter forgets it first, so a
    # reference user code kept raises StreamDestroyedError instead of reaching freed memory.
    cdef PyObject* obj = s.py
    cdef Filter f
    if obj == NULL:
        return
    f = <Filter>obj
    s.py = NULL
    s.envoy_ptr = NULL
    try:
        f._unbind()
        if f._fc.fn_on_destroy is not None:
            _run_detached(f._fc.fn_on_destroy(f))
    except BaseException:
        _fail(s, SIDE_NONE, "on_destroy")
    finally:
        Py_DECREF(f)


cdef public void pyext_on_scheduled(pyext_stream* s, uint64_t event_id) noexcept:
    # Worker thread: a pending hook finished (coroutine done, or continue_request() & co).
    cdef Filter f
    cdef int side
    if s.py == NULL:
        return
    f = <Filter>s.py
    side = f._pend_side
    try:
        if event_id == EV_STEP:
            f._step_parked()
        else:
            f._resume()
    except BaseException:
        name = _HOOK_NAMES[side][f._pend_kind] if side != SIDE_NONE else "async hook"
        if side != SIDE_NONE and _fail(s, side, name) == 0:
            try:
                f._continue(side)  # fail_open: let the stream go on
            except BaseException:
                pass
