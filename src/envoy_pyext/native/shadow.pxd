# _Shadow: the copy of a stream's headers and bodies that views use while a hook is pending
# (shadow.pxi). THREAD: made and replayed on the worker; read/written by the pending hook's
# coroutine (loop thread) or thread, one at a time (the stream has one pending hook at most).
cdef class _Shadow:
    cdef list maps              # 4 entries (by header type): list of [name, value] bytes, or None
    cdef list ops               # (0 set / 1 add / 2 remove, htype, name, value) in call order
    cdef list bodies            # 2 entries (by side): bytearray, the body as the hook sees it
    cdef Py_ssize_t body_skip[2]  # bytes of Envoy's buffer before what the copy stands for
    cdef Py_ssize_t body_base[2]  # bytes of Envoy's buffer the copy stands for
    cdef bint changed[2]
    cdef object reply           # (status, [(name, value)], body, details) or None
    cdef object end             # (function, args): reset/recreate/GOAWAY (streamctl.pxi) or None
    cdef dict info              # the stream info, read when the work left the worker
    cdef list later             # (function, args): context writes, applied after the headers

    @staticmethod
    cdef _Shadow snapshot(_Stream st, int data_side)
    cdef list map(self, int htype)
    cdef list get_all(self, int htype, bytes key)
    cdef int set(self, int htype, bytes key, bytes value) except -1
    cdef int add(self, int htype, bytes key, bytes value) except -1
    cdef int remove(self, int htype, bytes key) except -1
    cdef int replay(self, _Stream st) except -1
