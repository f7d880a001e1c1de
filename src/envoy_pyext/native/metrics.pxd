# User metrics (metrics.pxi): Counter, Gauge, Histogram declared on a Filter class, defined in
# Envoy when a filter config loads (main thread), updated through the stream.
# THREAD: updates on the stream's worker call Envoy at once; from a pending hook they are queued
# on its _Shadow (later) and applied on the worker when it resumes, or when it is cancelled
# (_metrics_salvage): an update is never lost with its hook.
cdef class _Metric:
    cdef readonly str name
    cdef readonly tuple labels
    cdef readonly object attribute
    cdef int kind

cdef class _BoundMetric:
    cdef _Metric _m
    cdef _Stream _st

cdef int _metrics_define(FilterConfig fc, object cls, void* config_envoy_ptr,
                         object worker_ids) except -1
cdef int _metrics_salvage(_Stream st, _Shadow sh) except -1
