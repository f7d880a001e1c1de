# envoy-pyext: Apache-2.0
#
# Stream control on self.callbacks: reset_stream, recreate_stream (Envoy's internal redirect),
# send_go_away_and_close. Each one ENDS the stream for the filter, like a local reply: the
# phases close first (phase.pxi _close), so whatever the hook returns, Envoy gets a stop status,
# no later hook of the stream runs (on_log/on_destroy still do) and nothing is continued twice.
# On the worker they call Envoy at once; from a pending hook (coroutine off the worker, thread
# after RUNNING) they are recorded on its _Shadow (`end`) and applied on the worker after the
# hook's other writes (shadow.pxi replay); a RUNNING hook needs no continue_*() after them.
# Envoy may run the stream's stream_complete and destroy hooks from inside these calls.
# GOAWAY (MEASURED on 1.40, graceful or not): over HTTP/2 Envoy sends GOAWAY and closes the
# connection at once (the stream is destroyed inside the call); over HTTP/1.1 it leaves the
# stream alone and a drain would wait for it forever, so the runtime then resets the stream,
# which closes the connection.


cdef class _HeaderArray:
    """A malloc'ed array of module_http_header over a list of (name, value) bytes pairs (which
    it keeps alive), for the ABI calls that take headers."""

    @staticmethod
    cdef _HeaderArray of(list pairs):
        cdef _HeaderArray a = _HeaderArray.__new__(_HeaderArray)
        cdef Py_ssize_t i
        a.pairs = pairs
        a.n = len(pairs)
        if a.n:
            a.arr = <abi.envoy_dynamic_module_type_module_http_header*>malloc(
                a.n * sizeof(abi.envoy_dynamic_module_type_module_http_header))
            if a.arr == NULL:
                raise MemoryError()
        for i in range(a.n):
            k, v = pairs[i]
            a.arr[i].key_ptr = PyBytes_AS_STRING(k)
            a.arr[i].key_length = PyBytes_GET_SIZE(k)
            a.arr[i].value_ptr = PyBytes_AS_STRING(v)
            a.arr[i].value_length = PyBytes_GET_SIZE(v)
        return a

    def __dealloc__(self):
        free(self.arr)


cdef list _header_pairs(object headers):
    """A dict or an iterable of (name, value) pairs as validated bytes pairs."""
    cdef list pairs = []
    if headers is not None:
        for name, value in (headers.items() if hasattr(headers, "items") else headers):
            pairs.append((_header_name(name), _header_value(value)))
    return pairs


def _ctl_reset(_Stream st, bytes details):
    _close(st)
    abi.envoy_dynamic_module_callback_http_filter_reset_stream(
        st._s.envoy_ptr, abi.envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset,
        _mbuf(details))


def _ctl_go_away(_Stream st, bint graceful):
    _close(st)
    abi.envoy_dynamic_module_callback_http_filter_send_go_away_and_close(st._s.envoy_ptr, graceful)
    if st._s != NULL and st._s.envoy_ptr != NULL:
        # Still alive (MEASURED: over HTTP/1.1 Envoy leaves the stream as it is, and a
        # graceful drain would wait for it forever): reset it, which closes the connection.
        abi.envoy_dynamic_module_callback_http_filter_reset_stream(
            st._s.envoy_ptr,
            abi.envoy_dynamic_module_type_http_filter_stream_reset_reason_LocalReset,
            _mbuf(b"envoy_pyext_go_away"))


def _ctl_recreate(_Stream st, list pairs):
    cdef _HeaderArray a = _HeaderArray.of(pairs)
    # Not closed first: when Envoy refuses, nothing happened and the stream goes on.
    if not abi.envoy_dynamic_module_callback_http_filter_recreate_stream(
            st._s.envoy_ptr, a.arr if a.n else NULL, a.n):
        raise EnvoyPyextError(
            "Envoy refused to recreate the stream: it recreates a request only once the whole "
            "request arrived (request_headers with end_stream, a later request hook, or a "
            "response hook)")
    _close(st)


cdef int _stream_end(_Stream st, object fn, tuple args) except -1:
    """Applies (worker) or records (pending hook) an action that ends the stream."""
    cdef _Shadow sh = _access(st)
    cdef _Pending p
    if st._closed:
        raise EnvoyPyextError("the stream was already ended (a local reply, a reset, a "
                              "recreate, a GOAWAY or an error)")
    if sh is None:
        fn(st, *args)
        return 0
    if sh.reply is not None or sh.end is not None:
        raise EnvoyPyextError("the stream was already ended by this pending hook")
    sh.end = (fn, args)
    p = st._pend
    if p is not None and p.task is None:
        p.complete(False, Status.LOCAL_REPLY)   # a thread ended the stream for the pending hook
    return 0


cdef int _reset_stream(_Stream st, str details) except -1:
    return _stream_end(st, _ctl_reset, (("_".join(details.split()) or
                                         "envoy_pyext_reset").encode(),))


cdef int _recreate_stream(_Stream st, object headers) except -1:
    return _stream_end(st, _ctl_recreate, (_header_pairs(headers),))


cdef int _send_go_away(_Stream st, bint graceful) except -1:
    return _stream_end(st, _ctl_go_away, (graceful,))
