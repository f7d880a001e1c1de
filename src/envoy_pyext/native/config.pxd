# FilterConfig: one per DynamicModuleFilter entry (config.pxi).
# THREAD: created and destroyed on Envoy's main thread; read-only afterwards (workers).
cdef class FilterConfig:
    cdef readonly str name
    cdef readonly object cls
    cdef readonly object config
    cdef readonly bint fail_open
    cdef uint32_t events            # PYEXT_EV_* bits the class needs (the shim reads them)
    cdef bint has_init
    cdef object fn_decode_headers, fn_decode_data, fn_decode_trailers
    cdef object fn_encode_headers, fn_encode_data, fn_encode_trailers
    cdef object fn_on_log, fn_on_destroy
    cdef pyext_config* _c
    cdef size_t error_counter
    cdef bint has_error_counter
    cdef void* envoy_ptr            # the config's Envoy pointer: valid until config_destroy
    cdef dict metric_ids            # the class's Counter/Gauge/Histogram -> Envoy id (metrics.pxi)
    cdef object fn_on_local_reply   # the class's on_local_reply, or None (localreply.pxi)

    @staticmethod
    cdef FilterConfig load(str filter_name, str raw, void* config_envoy_ptr)
    cdef int _define_counters(self, void* config_envoy_ptr) except -1
    cdef _Stream new_stream(self, pyext_stream* s)
    cdef void count_error(self) noexcept
