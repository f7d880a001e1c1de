# HttpStream: a streamed call through an Envoy cluster (httpstream.pxi).
# THREAD: Envoy's events arrive on the stream's worker; the awaiting Task (worker or loop
# thread) reads `chunks` and waits on `waiter`, resolved with the loop locked.
cdef class HttpStream:
    cdef _Callout _c
    cdef readonly int status        # 0 until the response headers arrived
    cdef readonly list headers      # (name, value) str pairs, pseudo-headers left out
    cdef readonly list trailers
    cdef object _headers_future     # resolved when the response headers arrived (or it failed)
    cdef object _waiter             # resolved when a chunk or the end arrives
    cdef list _chunks
    cdef bint _ended                # Envoy delivered the end of the response
    cdef object _error              # the exception that ended it (reset), or None

    cdef int on_headers(self, int status, list headers, bint end_stream) except -1
    cdef int on_data(self, bytes chunk, bint end_stream) except -1
    cdef int on_end(self, object error) except -1
    cdef int _wake(self) except -1
