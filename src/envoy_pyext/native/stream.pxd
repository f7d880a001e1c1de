# _Stream: the runtime's per-stream object (stream.pxi), separate from the user's Filter.
# It owns the pointer to the shim's struct, the views, each direction's phase (phase.pxi) and
# the pending hook (pending.pxi).
# THREAD: created and changed on the stream's Envoy worker with the GIL held; other threads
# only reach it through views and Callbacks, which check _access() first.
cimport cython

# Per direction: where the stream is (phase.pxi has the table of legal phase changes).
cdef enum:  # Phase
    P_WAIT = 0          # nothing of this direction reached Python yet
    P_STREAMING = 1     # headers went on; body chunks pass the data hook one by one
    P_STOPPED = 2       # a hook stopped the direction; its data hook decides on later chunks
    P_BUFFERING = 3     # STOP_AND_BUFFER: the whole body is collected for one data-hook call
    P_PENDING = 4       # a hook of this direction is pending (coroutine or thread)
    P_DONE = 5          # the direction's end went on: nothing more to process
    P_CLOSED = 6        # a local reply was sent or an error answered: nothing passes any more
    P_COUNT = 7

cdef struct _Side:
    int phase               # a P_* value
    bint headers_out        # the headers went on to the next filter
    bint cl_out             # ... carrying content-length: the body's length is fixed from then on
    bint body_changed       # the body was written while the headers were held
    Py_ssize_t delta        # bytes passed on minus bytes received, while cl_out
    Py_ssize_t seen         # body bytes Envoy holds that the data hook already saw
    int arrived             # A_* bits: what Envoy delivered while a hook was pending
    bint trailers           # the trailers arrived: the direction ends with them, not with data


@cython.final   # (its cdef methods are called directly, and may be inlined)
cdef class _Stream:
    cdef pyext_stream* _s           # NULL once Envoy destroyed the stream
    cdef FilterConfig _fc
    cdef Filter _filter             # the user's object; dropped at destroy
    cdef unsigned long _tid         # the Envoy worker thread that owns the stream
    cdef _Side _sides[2]
    cdef bint _closed               # a local reply went out or an error was answered
    cdef bint _ended                # stream_complete: no hook of the stream will run again
    cdef int _run_side, _run_kind   # the hook running synchronously right now (K_NONE: none)
    cdef int _hook_depth
    cdef int _early_status          # continue_*() called by the hook itself before it returned
    cdef object _settle_event       # threads started by a running hook wait for it to return
    cdef _Pending _pend             # the pending hook, or None
    cdef object _ctx                # the stream's contextvars.Context (every hook runs in it)
    cdef object _init_error         # what the Filter's __init__ raised, until it is answered
    cdef dict _callouts             # Envoy stream id -> _Callout in flight (None: none yet)
    cdef list _callout_queue        # callouts asked for off the worker, started on it
    cdef void* _sched               # Envoy scheduler, created on first use, deleted at destroy
    cdef HeaderMap _v_h0, _v_h1, _v_h2, _v_h3    # views by header type, made on first use
    cdef Buffer _v_b0, _v_b1                        # views by side
    cdef Callbacks _callbacks
    cdef StreamInfo _v_info                     # self.stream_info, made on first use
    cdef Metadata _v_meta                       # self.metadata, made on first use
    cdef FilterState _v_fs                      # self.filter_state, made on first use
    cdef object _route_rc                       # the route's _RouteConfig or None (routeconfig.pxi)
    cdef bint _route_rc_known                   # ... once read (again after clear_route_cache)
    cdef object _v_span                         # self.span, made on first use (tracing.pxi)
    cdef list _spans                            # child spans not finished yet, or None

    cdef int _bind(self, pyext_stream* s, FilterConfig fc, Filter f) except -1
    cdef int _unbind(self) except -1
    cdef int _cut_views(self) except -1
    cdef inline HeaderMap _headers(self, int htype)
    cdef Buffer _body(self, int side)
    cdef inline object _hook_fn(self, int side, int kind)
    cdef inline object _context(self)
    cdef int _invoke(self, int side, int kind, object fn, object arg, bint eos) except -1
    cdef int _update_busy(self) except -1
    cdef int _trace(self, str what) except -1

cdef _Shadow _access(_Stream st)
cdef _Shadow _access_checked(_Stream st)
cdef void* _worker_envoy_ptr(_Stream st) except NULL
cdef int _set_phase(_Stream st, int side, int phase) except -1
cdef int _outcome(_Stream st, int side, int kind, int status, bint eos) except -1
cdef int _outcome_checked(_Stream st, int side, int kind, int status, bint eos) except -1
cdef int _release(_Stream st, int side, int kind, bint complete) except -1
cdef int _continue_side(_Stream st, int side) except -1
cdef int _check_body_write(_Stream st, int side) except -1
cdef int _check_same_length(int side, Py_ssize_t change) except -1
cdef int _close(_Stream st) except -1
cdef int ev_headers(_Stream st, int side, bint eos) except -1
cdef int ev_data(_Stream st, int side, bint eos) except -1
cdef int ev_trailers(_Stream st, int side) except -1
cdef int _deliver_arrivals(_Stream st, int side, bint go) except -1
