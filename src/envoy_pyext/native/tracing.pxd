# Tracing: self.span and child spans (tracing.pxi).
# THREAD: Envoy is called on the stream's worker inside a hook; from a pending hook the writes
# are queued on its _Shadow (later) and applied on the worker.
cdef class Span:
    cdef _Stream _st
    cdef Span _parent               # None: the stream's active span; else the parent
    cdef void* _child               # a child's Envoy span (ours until finished), else NULL
    cdef bint _finished

    @staticmethod
    cdef Span new(_Stream st, Span parent)
    cdef void* _ptr(self, _Stream st) except? NULL
    cdef void* _worker_ptr(self) except? NULL
    cdef int _finish_now(self) except -1
    cdef int _call(self, object fn, tuple args) except -1
    cdef tuple _ids(self)

cdef object _span_snapshot(void* envoy_ptr)
cdef object _active_span(_Stream st)
cdef int _spans_finish_all(_Stream st) except -1
