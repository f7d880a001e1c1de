# Routing controls behind self.callbacks (routing.pxi).
# THREAD: the stream's worker inside a hook; from a pending hook queued on its _Shadow.
cdef int _clear_route_cache(_Stream st) except -1
cdef int _set_upstream_override_host(_Stream st, object host, bint strict) except -1
cdef int _add_response_flag(_Stream st, object flag) except -1
