# Callbacks: what a filter asks of Envoy for its stream (callbacks.pxi).
# THREAD: send_local_reply/continue_* from any thread while a hook of the stream is pending;
# everything else on the worker.
cdef class Callbacks:
    cdef _Stream _st

    @staticmethod
    cdef Callbacks new(_Stream st)
    cdef int _continue(self, int side) except -1
