# Runtime values (runtime.pxi). THREAD: Envoy's getters are called on its main thread only;
# the remembered values are read from any thread under the GIL.
cdef int _runtime_config_loaded(ConfigContext ctx) except -1
cdef int _runtime_config_closed(ConfigContext ctx) except -1
