# _LiveConfig: a configuration whose code the development watcher may replace (config.pxi).
# THREAD: main thread and the watcher thread, under the GIL.
cimport cython
cdef class _LiveConfig:
    cdef pyext_config* _c           # NULL once Envoy destroyed the configuration


# FilterConfig: one per DynamicModuleFilter entry (config.pxi); with `reload`, one per version.
# THREAD: created and destroyed on Envoy's main thread; read-only afterwards (workers), but for
# the spare streams (_spare, _n_spare), which workers change holding the GIL (reuse.pxi).
@cython.final   # (its cdef methods are called directly, and may be inlined)
cdef class FilterConfig:
    cdef readonly str name
    cdef readonly object cls
    cdef readonly object config
    cdef readonly object code       # envoy_pyext._loader.Code: the class and its code version
    cdef _LiveConfig _live          # with `reload`: the watcher's handle, else None
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
    cdef ConfigContext context      # parse_config's context (config-level calls, spawn)
    cdef dict metric_ids            # the class's Counter/Gauge/Histogram -> Envoy id (metrics.pxi)
    cdef object fn_on_local_reply   # the class's on_local_reply, or None (localreply.pxi)
    cdef list carriers              # per hook: the Task its coroutines' first steps run as
    # Recycled _Streams with their Filter (reuse.pxi): strong references, _n_spare of them.
    cdef PyObject* _spare[64]
    cdef int _n_spare
    cdef bint _reuse                # the class's streams may be recycled (and not destroyed yet)

    @staticmethod
    cdef FilterConfig load(str filter_name, str raw, void* config_envoy_ptr, object ids=*)

    @staticmethod
    cdef FilterConfig _build(str filter_name, object code, ConfigContext context)
    cdef int _define_counters(self, void* config_envoy_ptr) except -1
    cdef _Stream new_stream(self, pyext_stream* s)
    cdef void count_error(self) noexcept
