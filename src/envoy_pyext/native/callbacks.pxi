# envoy-pyext: Apache-2.0
#
# Callbacks: what a filter can ask of Envoy for its stream (self.callbacks), and the one
# function that sends a local reply.


cdef int _send_reply_direct(_Stream st, int status_code, list pairs, bytes body,
                            bytes details) except -1:
    """Sends a local reply now (worker thread) and closes the stream's phases."""
    cdef _HeaderArray a = _HeaderArray.of(pairs)
    _close(st)  # first: Envoy may call our hooks again from inside send_response
    abi.envoy_dynamic_module_callback_http_send_response(
        st._s.envoy_ptr, status_code, a.arr, a.n, _mbuf(body), _mbuf(details))
    return 0


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class Callbacks:
    """What a filter can ask of Envoy for its stream: ``self.callbacks``. send_local_reply,
    continue_request and continue_response may be called from any thread while a hook of the
    stream is pending; the runtime applies them on the stream's worker thread."""

    def __init__(self):
        raise TypeError("Callbacks objects are created by envoy-pyext, not by user code")

    @staticmethod
    cdef Callbacks new(_Stream st):
        cdef Callbacks c = Callbacks.__new__(Callbacks)
        c._st = st
        return c

    def send_local_reply(self, int status_code, body=b"", headers=None, str details=""):
        """Answers the client directly with ``status_code``, ``body`` and ``headers`` (a dict or
        a list of (name, value) pairs); return the result (Status.LOCAL_REPLY) from the hook."""
        if not 200 <= status_code <= 599:
            raise ValueError(f"invalid status code {status_code}")
        cdef bytes body_b = _as_bytes(body)
        cdef list pairs = _header_pairs(headers)
        cdef bytes details_b = ("_".join(details.split()) or "envoy_pyext_local_reply").encode()
        cdef _Stream st = self._st
        cdef _Shadow sh = _access(st)
        cdef _Pending p
        if st._closed:
            raise EnvoyPyextError("the stream was already answered (a local reply or an error)")
        if sh is None:
            _send_reply_direct(st, status_code, pairs, body_b, details_b)
            return Status.LOCAL_REPLY
        if sh.reply is not None or sh.end is not None:
            raise EnvoyPyextError("send_local_reply() was already called for this stream, or "
                                  "the stream was ended")
        sh.reply = (status_code, pairs, body_b, details_b)
        p = st._pend
        if p is not None and p.task is None:
            p.complete(False, Status.LOCAL_REPLY)  # a thread answered for the pending hook
        return Status.LOCAL_REPLY

    def reset_stream(self, str details=""):
        """Resets the stream (the client sees a reset: HTTP/2 RST_STREAM, HTTP/1.1 a closed
        connection); ``details`` goes to the access log's response code details. No later hook
        of the stream runs; what the hook returns no longer matters (streamctl.pxi)."""
        _reset_stream(self._st, details)

    def recreate_stream(self, headers=None):
        """Envoy's internal redirect: the request, with the request headers as the filter
        changed them, starts again as a new stream (routed again, through a new filter chain,
        new Filter objects). Envoy does it only once the whole request arrived: at a bodiless
        request's headers, or later (a body Envoy buffered goes to the new stream).
        ``headers``: response headers recorded for the old stream's access log. Raises
        EnvoyPyextError when Envoy refuses (on the worker; from a pending hook the refusal is
        answered like an exception of the hook)."""
        _recreate_stream(self._st, headers)

    def send_go_away_and_close(self, bint graceful=True):
        """Closes the client's connection: HTTP/2 with a GOAWAY (``graceful``: NO_ERROR with
        the drain sequence, else an immediate close), HTTP/1.1 by resetting this stream. The
        stream ends for the filter, like reset_stream."""
        _send_go_away(self._st, graceful)

    def continue_request(self):
        """Resumes the request after its hook returned Status.RUNNING (any thread)."""
        self._continue(SIDE_REQUEST)

    def continue_response(self):
        """Resumes the response after its hook returned Status.RUNNING (any thread)."""
        self._continue(SIDE_RESPONSE)

    cdef int _continue(self, int side) except -1:
        cdef _Stream st = self._st
        cdef _Pending p
        _access(st)  # destroyed -> StreamDestroyedError; a hook still running -> wait for it
        p = st._pend
        name = _SIDE_NAMES[side]
        if p is not None and p.side == side:
            if p.task is not None:
                raise EnvoyPyextError(f"the {name} waits for a coroutine: return from it instead")
            if p.done:
                raise EnvoyPyextError(f"the {name} was already continued")
            p.complete(False, Status.CONTINUE)
        elif p is None and st._hook_depth > 0 and st._run_side == side \
                and PyThread_get_thread_ident() == st._tid:
            st._early_status = S_CONTINUE  # the hook itself, before it returns RUNNING
        else:
            raise EnvoyPyextError(f"the {name} is not waiting to be continued (continue_{name}() "
                                  f"resumes a hook that returned Status.RUNNING)")
        return 0

    @property
    def buffer_limit(self):
        """Envoy's buffer limit for this stream in bytes (0: none). Raise it to buffer bodies
        larger than the listener's default (1 MiB) with STOP_AND_BUFFER; a body over the
        limit is answered 413 (request) or 500 (response) by Envoy."""
        return abi.envoy_dynamic_module_callback_http_get_buffer_limit(_worker_envoy_ptr(self._st))

    @buffer_limit.setter
    def buffer_limit(self, uint64_t limit):
        abi.envoy_dynamic_module_callback_http_set_buffer_limit(_worker_envoy_ptr(self._st), limit)

    def clear_route_cache(self):
        """Makes Envoy choose the route again (after a request header change that should
        re-route). From a pending hook: applied when it resumes (routing.pxi)."""
        _clear_route_cache(self._st)

    def set_upstream_override_host(self, host, bint strict=False):
        """Sends the request to the upstream endpoint ``host`` ("ip:port") of the routed
        cluster; ``strict``: fail (503) rather than fall back to load balancing when it is
        not there."""
        _set_upstream_override_host(self._st, host, strict)

    def add_response_flag(self, flag):
        """A marker for the access log (%CUSTOM_FLAGS%), e.g. "RATE_LIMITED_BY_PY"."""
        _add_response_flag(self._st, flag)

    @property
    def worker_index(self):
        """The index of the Envoy worker thread running this stream."""
        return abi.envoy_dynamic_module_callback_http_filter_get_worker_index(
            _worker_envoy_ptr(self._st))

    def log(self, level, message):
        """Writes ``message`` to Envoy's log at ``level`` ('info', logging.WARNING, ...)."""
        frame = _sys._getframe(0)  # Cython functions have no frame: 0 is the caller
        _log(_envoy_level(level), str(message), frame.f_code.co_filename, frame.f_lineno)
