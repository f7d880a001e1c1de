# Buffer: a view onto one direction's body (buffer.pxi).
# THREAD: as HeaderMap. Envoy's received chunk is addressable only inside the data hook
# (_in_hook); memoryviews into Envoy's memory are valid only until the hook returns.

# Buffer._walk's step: called with each of Envoy's slices of the view in byte order (the
# address is writable, valid until the hook returns); `ctx` is the caller's state.
ctypedef int (*_SliceStep)(char* ptr, size_t length, void* ctx) except -1

cdef struct _CopyInto:          # _copy_direct's state
    char* dst
    Py_ssize_t cap
    Py_ssize_t off

cdef enum:                      # _BodyEdit.op (bodyedit.pxi)
    _EDIT_TRANSLATE = 0
    _EDIT_UPPER = 1
    _EDIT_LOWER = 2

cdef struct _BodyEdit:          # an in-place edit (bodyedit.pxi)
    int op
    const unsigned char* table  # _EDIT_TRANSLATE: 256 bytes
    size_t skip                 # leading bytes left as they are (Buffer._skip)

cdef class Buffer:
    cdef _Stream _st            # None once the stream was destroyed
    cdef int _side
    cdef bint _in_hook          # the received chunk is part of the view (inside the data hook)
    cdef Py_ssize_t _skip       # leading bytes the hook already saw (data replayed after a resume)
    cdef Py_ssize_t _exports    # live memoryviews

    @staticmethod
    cdef Buffer new(_Stream st, int side)
    cdef int _kinds(self, void* ep, abi.envoy_dynamic_module_type_http_body_type* kinds) except -1
    cdef Py_ssize_t _size_direct(self) except -1
    cdef list _slices(self)
    cdef int _walk(self, _SliceStep step, void* ctx) except -1
    cdef Py_ssize_t _copy_direct(self, char* dst, Py_ssize_t cap) except -1
    cdef bytes _read_direct(self)
    cdef int _drain_direct(self, Py_ssize_t n) except -1
    cdef int _append_direct(self, object data) except -1
    cdef int _replace_range(self, Py_ssize_t start, Py_ssize_t length, object data) except -1
    cdef Py_ssize_t _size(self) except -1
    cdef bytes _read(self)
    cdef int _set(self, object data) except -1
    cdef int _drain(self, Py_ssize_t n) except -1
    cdef int _append(self, object data) except -1
    cdef object _own(self, object data)

cdef int _body_edit(Buffer b, int op, object table) except -1
