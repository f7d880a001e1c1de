# envoy-pyext: Apache-2.0
#
# on_local_reply(self, status_code, details, reset_imminent): the optional hook Envoy calls,
# on the stream's worker, whenever a local reply is about to be sent for the stream: Envoy's
# own (no route, upstream unavailable, timeouts, a direct_response route), another filter's, or
# this filter's send_local_reply (it then runs inside that call). It may return Status.RESET to
# reset the stream instead of sending the reply. It must be a plain (not async) function; what
# it raises is logged and counted, and the reply goes out.
#
# Also _context_setup: what FilterConfig.load does for the Envoy context (metrics.pxi, this).


cdef int _context_setup(FilterConfig fc, object cls, void* config_envoy_ptr,
                        object ids) except -1:
    _metrics_define(fc, cls, config_envoy_ptr, ids)
    fc.fn_on_local_reply = _overridden(cls, "on_local_reply")
    if fc.fn_on_local_reply is not None:
        fc.events |= PYEXT_EV_LOCAL_REPLY
    return 0


cdef public int pyext_on_local_reply(pyext_stream* s, uint32_t response_code,
                                     const char* details, size_t details_length,
                                     int reset_imminent) noexcept:
    cdef _Stream st = None
    try:
        st = _stream_of(s)
        if st._filter is None:
            return abi.envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue
        text = ""
        if details != NULL:
            text = PyUnicode_DecodeUTF8(details, details_length, "surrogateescape")
        fn = st._fc.fn_on_local_reply
        if st._hook_depth > 0:  # inside the filter's own hook (its send_local_reply)
            result = fn(st._filter, response_code, text, bool(reset_imminent))
        else:
            result = st._context().copy().run(
                fn, st._filter, response_code, text, bool(reset_imminent))
        if result is not None and type(result) is not _StatusType and _is_awaitable(result):
            _close_awaitable(result)
            raise InvalidStatusError(f"{fn.__qualname__} must not be async: it runs while "
                                     f"Envoy sends the reply")
        if _status_of(result, fn) == S_RESET:
            return abi.envoy_dynamic_module_type_on_http_filter_local_reply_status_ContinueAndResetStream
        if result is not None and result is not Status.CONTINUE:
            raise InvalidStatusError(f"{fn.__qualname__} returned {result!r}; on_local_reply "
                                     f"returns None, Status.CONTINUE or Status.RESET")
    except BaseException:
        if st is not None:
            _fail(st, SIDE_NONE, "on_local_reply")
    return abi.envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue


cdef int _close_awaitable(object result) except -1:
    close = getattr(result, "close", None)
    if close is not None:
        close()     # no "coroutine was never awaited" warning
    return 0
