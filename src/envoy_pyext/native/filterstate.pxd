# FilterState: Envoy's per-stream (or per-connection) filter state (self.filter_state,
# filterstate.pxi): bytes other filters and the access log read, and Python objects handed
# between Python filters of the same stream and interpreter.
# THREAD: reads on the stream's worker inside a hook only; writes also from a pending hook,
# recorded on its _Shadow (later) and applied when it resumes. Envoy destroys objects on the
# worker, with any interpreter's GIL or none held (_fs_box_destroy drops the reference in the
# interpreter that stored it: cpp/fsobj.cc).
cdef class FilterState:
    cdef _Stream _st

    @staticmethod
    cdef FilterState new(_Stream st)
