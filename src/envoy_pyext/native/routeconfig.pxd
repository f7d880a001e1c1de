# Per-route configuration (routeconfig.pxi): what Filter.parse_route_config made of a route's
# typed_per_filter_config, and Filter.route_config.
# THREAD: created and destroyed on Envoy's main thread; read by workers; a pending hook reads the
# stream's (prefetched when its work left the worker).
cdef class _RouteConfig:
    cdef readonly str name
    cdef readonly object cls
    cdef readonly object value
    cdef object merged_for      # the FilterConfig of the cached merge
    cdef object merged

cdef int _route_config_prefetch(_Stream st) except -1
cdef object _route_config(_Stream st)
