# Filter: the class users subclass (filter.pxi). Its only runtime field is the per-stream
# _Stream; everything else in a user filter's namespace is the user's.
cdef class Filter:
    cdef _Stream _rt
    cdef object _test               # envoy_pyext.testing's in-memory stream (never in Envoy)
    cdef object __weakref__
