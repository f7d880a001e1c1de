# _Callout: one call to another service through an Envoy cluster (callout.pxi).
# THREAD: started, fed and finished on the stream's worker (Envoy's callout events); its future
# is awaited by the hook's Task (worker or loop thread) and resolved with the loop locked.
cdef class _Callout:
    cdef _Stream st                 # the stream's call, or None for a config-level one
    cdef ConfigContext ctx          # the config's call (main thread), or None
    cdef uint64_t id                # Envoy's stream id (0 until started)
    cdef object future              # asyncio.Future on the runtime's loop
    cdef object request             # (cluster, [(name, value)] bytes, body, timeout) until started
    cdef int status
    cdef list headers, trailers
    cdef bytearray body
    cdef Py_ssize_t limit           # the most response bytes kept
    cdef double started, timeout    # monotonic seconds
    cdef bint finished
    cdef HttpStream stream          # a streamed call's user object (httpstream.pxi), or None

    cdef int start(self) except -1
    cdef int settle(self, object result, bint is_error) except -1
    cdef int reset(self) except -1

cdef int callouts_cancel(_Stream st, bint envoy_alive) except -1
cdef int callouts_run_queued(_Stream st) except -1
