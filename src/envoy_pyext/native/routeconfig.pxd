# Per-route configuration (routeconfig.pxi): what Filter.parse_route_config made of a route's
# typed_per_filter_config, and Filter.route_config.
# THREAD: created and destroyed on Envoy's main thread; read by workers; a pending hook reads the
# stream's (prefetched when its work left the worker).
from cpython.ref cimport PyObject

cdef class _RouteConfig:
    cdef readonly str name
    cdef readonly object cls
    cdef readonly object value
    cdef object merged_for      # the FilterConfig of the cached merge
    cdef object merged
    cdef str error              # a sub-interpreter's parse failed: why (raised when read)

# What Envoy holds for a per-route config (one malloc'd block with the name and raw bytes).
# OWNERSHIP: main_rc is a strong ref of the MAIN interpreter; a sub-interpreter reads only
# serial, name and raw.
cdef struct _RouteConfigHandle:
    uint64_t serial             # unique in the process
    PyObject* main_rc           # the main interpreter's _RouteConfig
    char* name
    size_t name_length
    char* raw
    size_t raw_length

cdef int _route_config_prefetch(_Stream st) except -1
cdef object _route_config(_Stream st)
