# HeaderMap: a view onto one of a stream's four header maps (headers.pxi).
# THREAD: the stream's worker inside a hook; any thread while a hook of the stream is pending
# (then it reads and writes the pending hook's _Shadow).
cdef class HeaderMap:
    cdef _Stream _st            # None once the stream was destroyed
    cdef abi.envoy_dynamic_module_type_http_header_type _htype
    cdef unsigned long _walk_epoch  # _hdr_epoch of the last walk (0: none), see headers.pxi
    cdef uint64_t _walk_names       # Bloom filter of the names that walk saw

    @staticmethod
    cdef HeaderMap new(_Stream st, int htype)
    cdef bytes _lookup_key(self, object name)
    cdef object _get(self, object name, bint raw)
    cdef list _get_all(self, object name, bint raw)
    cdef list _items(self, bint raw)
    cdef list _items_direct(self, bint raw)
    cdef int _write(self, object name, object value, bint add) except -1
    cdef int _remove(self, object name) except -1
