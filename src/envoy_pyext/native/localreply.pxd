# on_local_reply (localreply.pxi).
# THREAD: _local_reply_setup on Envoy's main thread (building a FilterConfig);
# pyext_on_local_reply on the stream's worker.
cdef int _local_reply_setup(FilterConfig fc, object cls) except -1
