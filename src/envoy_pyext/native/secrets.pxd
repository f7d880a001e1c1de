# Generic secrets (secrets.pxi). THREAD: subscribe on Envoy's main thread inside config_new;
# reads on the stream's worker (a pending hook reads its _Shadow's copy).
cdef int _secret_subscribe(ConfigContext ctx, object name, object sds_config) except -1
cdef int _secrets_snapshot(_Stream st, dict snap) except -1
cdef object _secret(_Stream st, str name)
