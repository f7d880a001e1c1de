# _Pending: one hook of a stream that went asynchronous (pending.pxi). The object itself is the
# token of that piece of work: a completion is accepted only while the stream's _pend is this
# object, so a completion that races with its own hand-off, or arrives after the stream
# abandoned the work, can never be lost or misapplied.
# THREAD: created on the worker; done/error/value are written once by whoever completes the
# work (loop thread, user thread, worker), with the GIL held, then the worker is woken through
# Envoy's scheduler.
cdef class _Pending:
    cdef _Stream st
    cdef int side, kind
    cdef bint eos
    cdef object task            # the hook's asyncio Task, or None (RUNNING: a user thread)
    cdef object handle          # the Task's next step, parked on the worker (it yielded bare)
    cdef object carrier         # or the coroutine itself, parked as its carrier (_CarrierPark)
    cdef int steps              # worker steps so far (bounded: then it moves to the loop)
    cdef bint done
    cdef bint error
    cdef object value           # the hook's result, or the exception it raised
    cdef _Shadow shadow         # None while the coroutine stays on the worker
    cdef Py_ssize_t base        # data hook: the view's size when the hook went pending

    cdef int complete(self, bint is_error, object value) except -1

cdef int pending_start(_Stream st, int side, int kind, bint eos, object task) except -1
cdef int run_coroutine(_Stream st, int side, int kind, bint eos, object coro) except -1
cdef int pending_step(_Stream st) except -1
cdef int pending_resume(_Stream st) except -1
cdef int pending_cancel(_Stream st) except -1
cdef int _finish(_Stream st, int side, int kind, bint eos, int status) except -1
