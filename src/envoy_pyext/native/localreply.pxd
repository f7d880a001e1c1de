# on_local_reply (localreply.pxi), and the Envoy-context set-up of a filter config.
# THREAD: _context_setup on Envoy's main thread (config_new); pyext_on_local_reply on the
# stream's worker.
cdef int _context_setup(FilterConfig fc, object cls, void* config_envoy_ptr,
                        object ids) except -1
