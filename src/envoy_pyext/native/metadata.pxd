# Metadata: the stream's dynamic metadata, and the route's/cluster's/host's metadata
# (self.metadata, metadata.pxi).
# THREAD: reads on the stream's worker inside a hook only; writes also from a pending hook,
# recorded on its _Shadow (later) and applied when it resumes on the worker.
cdef class Metadata:
    cdef _Stream _st

    @staticmethod
    cdef Metadata new(_Stream st)

cdef void* _ctx_ptr(_Stream st, str what) except NULL
cdef bytes _pb_struct(dict d, int depth)
