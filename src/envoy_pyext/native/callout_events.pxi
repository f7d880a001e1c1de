# envoy-pyext: Apache-2.0
#
# What Envoy delivers for a call (callout.pxi, httpstream.pxi) on the stream's worker: the
# response headers, body chunks, trailers, its end or its reset. The arrays are Envoy's, valid
# only during the hook: copied here.

cdef inline _Callout _callout_of(pyext_stream* s, uint64_t stream_id):
    if s.py == NULL:
        return None
    cdef _Stream st = <_Stream>s.py
    if st._callouts is None:
        return None
    return st._callouts.get(stream_id)


cdef int _callout_headers(_Callout c, abi.envoy_dynamic_module_type_envoy_http_header* headers,
                          size_t n, bint end_stream) except -1:
    for k, v in _copy_envoy_headers(headers, n):
        if k == ":status":
            c.status = int(v)
        elif not k.startswith(":"):
            c.headers.append((k, v))
    if c.stream is not None:
        c.stream.on_headers(c.status, c.headers, end_stream)
    return 0


cdef int _callout_data(_Callout c, const abi.envoy_dynamic_module_type_envoy_buffer* data,
                       size_t n, bint end_stream) except -1:
    cdef size_t i
    if c.stream is not None:
        c.stream.on_data(b"".join([PyBytes_FromStringAndSize(data[i].ptr, data[i].length)
                                   for i in range(n)]), end_stream)
        return 0
    for i in range(n):
        c.body.extend(PyBytes_FromStringAndSize(data[i].ptr, data[i].length))
    if len(c.body) > c.limit:
        c.settle(ResponseTooLargeError(
            f"the response was larger than {c.limit} bytes (max_response_bytes)"), True)
        c.reset()
    return 0


cdef int _callout_end(_Callout c, int reason) except -1:
    cdef bytes body
    if reason >= 0:
        name = _RESET_REASONS[reason] if reason < len(_RESET_REASONS) else str(reason)
        error = CalloutResetError(f"the call's stream was reset ({name})", name)
        if c.stream is not None:
            c.stream.on_end(error)
        return c.settle(error, True)
    if c.stream is not None:
        c.stream.on_end(None)
        return c.settle(None, False)
    body = bytes(c.body)
    if c.status == 504 and body == b"upstream request timeout" \
            and _time.monotonic() - c.started >= c.timeout * 0.9:
        # Envoy's router answered for the call: its timeout passed.
        return c.settle(TimeoutError(f"the call did not complete within {c.timeout} s"), True)
    return c.settle(HttpResponse(c.status, c.headers, body, c.trailers), False)


cdef void _log_callout_error(str where) noexcept:
    try:
        _log(LL_ERROR, f"envoy-pyext: callout {where}:\n{_format_exc(_sys.exc_info()[1])}")
    except BaseException:
        pass


cdef public void pyext_on_callout_headers(
        pyext_stream* s, uint64_t stream_id,
        abi.envoy_dynamic_module_type_envoy_http_header* headers, size_t n,
        int end_stream) noexcept:
    cdef _Callout c = _callout_of(s, stream_id)
    if c is not None:
        try:
            _callout_headers(c, headers, n, end_stream)
        except BaseException:
            _log_callout_error("response headers")


cdef public void pyext_on_callout_data(
        pyext_stream* s, uint64_t stream_id, const abi.envoy_dynamic_module_type_envoy_buffer* data,
        size_t n, int end_stream) noexcept:
    cdef _Callout c = _callout_of(s, stream_id)
    if c is not None:
        try:
            _callout_data(c, data, n, end_stream)
        except BaseException:
            _log_callout_error("response body")


cdef public void pyext_on_callout_trailers(
        pyext_stream* s, uint64_t stream_id,
        abi.envoy_dynamic_module_type_envoy_http_header* trailers, size_t n) noexcept:
    cdef _Callout c = _callout_of(s, stream_id)
    if c is not None:
        try:
            c.trailers.extend(_copy_envoy_headers(trailers, n))
        except BaseException:
            _log_callout_error("response trailers")


cdef public void pyext_on_callout_end(pyext_stream* s, uint64_t stream_id, int reason) noexcept:
    cdef _Callout c = _callout_of(s, stream_id)
    if c is not None:
        try:
            _callout_end(c, reason)
        except BaseException:
            _log_callout_error("end")
