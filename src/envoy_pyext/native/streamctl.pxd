# Stream control behind self.callbacks (streamctl.pxi): reset, recreate, GOAWAY.
# THREAD: the stream's worker inside a hook; from a pending hook recorded on its _Shadow.
cdef class _HeaderArray:
    cdef list pairs     # keeps the bytes the array points into alive
    cdef abi.envoy_dynamic_module_type_module_http_header* arr
    cdef Py_ssize_t n

    @staticmethod
    cdef _HeaderArray of(list pairs)

cdef list _header_pairs(object headers)
cdef int _stream_end(_Stream st, object fn, tuple args) except -1
cdef int _reset_stream(_Stream st, str details) except -1
cdef int _recreate_stream(_Stream st, object headers) except -1
cdef int _send_go_away(_Stream st, bint graceful) except -1
