# envoy-pyext: Apache-2.0
#
# Tracing: self.span, the stream's active span (None when Envoy does not trace the stream), and
# the child spans a filter starts with `with self.span.child("name") as child:`.
# Writes (set_tag, log, set_operation, set_baggage, set_sampled, child spans and their
# finish) go to Envoy at once on the worker; from a pending hook they are queued on its _Shadow
# (`later`) and applied, in call order, on the worker when it resumes. The active span's
# trace_id and span_id are read into the shadow when the work leaves the worker; baggage and a
# child's ids are readable on the worker only. Envoy returns its strings in thread-local storage
# valid until the next tracing call: they are copied at once. A child span still open when the
# stream is destroyed is finished then (_unbind), never leaked.

cdef str _SPAN_KEY = "\0span"   # in _Shadow.info: None, or (trace_id, span_id) of the active span


cdef inline str _ebuf_str(bint ok, abi.envoy_dynamic_module_type_envoy_buffer* out):
    if not ok or out.ptr == NULL:
        return ""
    return PyUnicode_DecodeUTF8(out.ptr, out.length, "surrogateescape")


cdef tuple _span_ids(void* span):
    cdef abi.envoy_dynamic_module_type_envoy_buffer out
    out.ptr = NULL
    trace_id = _ebuf_str(abi.envoy_dynamic_module_callback_http_span_get_trace_id(span, &out), &out)
    out.ptr = NULL
    span_id = _ebuf_str(abi.envoy_dynamic_module_callback_http_span_get_span_id(span, &out), &out)
    return (trace_id, span_id)


cdef object _span_snapshot(void* envoy_ptr):
    """For _info_snapshot (worker): the active span's ids, or None when not traced."""
    cdef void* span = abi.envoy_dynamic_module_callback_http_get_active_span(envoy_ptr)
    return None if span == NULL else _span_ids(span)


cdef inline bytes _span_text(object value, str what):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return (<str>value).encode("utf-8", "surrogateescape")
    if isinstance(value, (bool, int, float)):
        return str(value).encode()
    raise TypeError(f"a span {what} is str or bytes, not {type(value).__name__}")


# ---- the operations, run on the worker (directly, or replayed from a _Shadow) ---------------
def _sp_tag(_Stream st, Span sp, bytes key, bytes value):
    cdef void* p = sp._ptr(st)
    if p != NULL:
        abi.envoy_dynamic_module_callback_http_span_set_tag(p, _mbuf(key), _mbuf(value))


def _sp_operation(_Stream st, Span sp, bytes name):
    cdef void* p = sp._ptr(st)
    if p != NULL:
        abi.envoy_dynamic_module_callback_http_span_set_operation(p, _mbuf(name))


def _sp_log(_Stream st, Span sp, bytes event):
    cdef void* p = sp._ptr(st)
    if p != NULL:
        abi.envoy_dynamic_module_callback_http_span_log(st._s.envoy_ptr, p, _mbuf(event))


def _sp_sampled(_Stream st, Span sp, bint sampled):
    cdef void* p = sp._ptr(st)
    if p != NULL:
        abi.envoy_dynamic_module_callback_http_span_set_sampled(p, sampled)


def _sp_baggage(_Stream st, Span sp, bytes key, bytes value):
    cdef void* p = sp._ptr(st)
    if p != NULL:
        abi.envoy_dynamic_module_callback_http_span_set_baggage(p, _mbuf(key), _mbuf(value))


def _sp_spawn(_Stream st, Span parent_span, Span child, bytes name):
    cdef void* parent = parent_span._ptr(st)
    if parent != NULL:
        child._child = abi.envoy_dynamic_module_callback_http_span_spawn_child(
            st._s.envoy_ptr, parent, _mbuf(name))
        if child._child != NULL:
            if st._spans is None:
                st._spans = []
            st._spans.append(child)


def _sp_finish(_Stream st, Span child):
    child._finish_now()
    if st._spans is not None and child in st._spans:
        st._spans.remove(child)


cdef int _spans_finish_all(_Stream st) except -1:
    """The stream is destroyed (worker): child spans left open are finished."""
    cdef Span sp
    spans, st._spans = st._spans, None
    for sp in spans:
        sp._finish_now()
    return 0


cdef object _active_span(_Stream st):
    """self.span: the stream's Span, or None when the stream is not traced."""
    cdef _Shadow sh = _access(st)
    if st._v_span is not None:
        return st._v_span
    if sh is None:
        if abi.envoy_dynamic_module_callback_http_get_active_span(st._s.envoy_ptr) == NULL:
            return None
    elif sh.info is None or sh.info.get(_SPAN_KEY) is None:
        return None
    st._v_span = Span.new(st, None)
    return st._v_span


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class Span:
    """A tracing span: ``self.span`` (the stream's span in Envoy's tracer) or a child of it
    (``span.child(name)``, a context manager that finishes it). Tags, logs and baggage go to
    Envoy's tracer (Zipkin, OpenTelemetry, ...)."""

    @staticmethod
    cdef Span new(_Stream st, Span parent):
        cdef Span sp = Span.__new__(Span)
        sp._st = st
        sp._parent = parent
        return sp

    cdef void* _ptr(self, _Stream st) except? NULL:
        """The span's Envoy pointer (worker), NULL when it has none (a finished child)."""
        if self._parent is None:
            return abi.envoy_dynamic_module_callback_http_get_active_span(st._s.envoy_ptr)
        return self._child

    cdef int _finish_now(self) except -1:
        cdef void* c = self._child
        self._finished = True
        self._child = NULL
        if c != NULL:
            abi.envoy_dynamic_module_callback_http_child_span_finish(c)
        return 0

    cdef int _call(self, object fn, tuple args) except -1:
        cdef _Stream st = self._st
        cdef _Shadow sh = _access(st)
        if self._finished:
            raise EnvoyPyextError("this child span is finished")
        if sh is None:
            fn(st, self, *args)
        else:
            sh.later.append((fn, (self,) + args))
        return 0

    def set_tag(self, key, value):
        """Sets the tag ``key`` (str) to ``value`` (str, bytes, or a number: its str)."""
        self._call(_sp_tag, (_span_text(key, "tag name"), _span_text(value, "tag value")))

    def log(self, event):
        """Records the event ``event`` (str) on the span, with the current time."""
        self._call(_sp_log, (_span_text(event, "event"),))

    def set_operation(self, name):
        """Renames the span's operation."""
        self._call(_sp_operation, (_span_text(name, "operation name"),))

    def set_sampled(self, bint sampled):
        """Overrides the tracer's sampling decision for the span (and its children)."""
        self._call(_sp_sampled, (sampled,))

    def set_baggage(self, key, value):
        """Sets baggage ``key`` to ``value`` (propagated to the upstream with the trace context
        by tracers that support baggage)."""
        self._call(_sp_baggage, (_span_text(key, "baggage key"), _span_text(value, "baggage")))

    def get_baggage(self, key):
        """The baggage value for ``key`` (str), or None (worker only: not in a pending hook)."""
        cdef abi.envoy_dynamic_module_type_envoy_buffer out
        cdef bytes k = _span_text(key, "baggage key")
        cdef void* p = self._worker_ptr()
        out.ptr = NULL
        if p == NULL:
            return None
        if not abi.envoy_dynamic_module_callback_http_span_get_baggage(p, _mbuf(k), &out):
            return None
        return _ebuf_str(True, &out)

    cdef void* _worker_ptr(self) except? NULL:
        _worker_envoy_ptr(self._st)
        if self._finished:
            raise EnvoyPyextError("this child span is finished")
        return self._ptr(self._st)

    cdef tuple _ids(self):
        cdef _Shadow sh = _access(self._st)
        cdef void* p
        if sh is not None and self._parent is None:
            return sh.info.get(_SPAN_KEY) or ("", "")
        p = self._worker_ptr()
        return ("", "") if p == NULL else _span_ids(p)

    @property
    def trace_id(self):
        """The trace id as the tracer writes it (hex for Zipkin), or "" if it has none."""
        return self._ids()[0]

    @property
    def span_id(self):
        """The span id, or "" when the tracer does not expose it (Envoy's Zipkin tracer)."""
        return self._ids()[1]

    def child(self, name):
        """Starts a child span named ``name``; use it as ``with self.span.child("db") as c:``
        (finished on exit), or call ``finish()``. In a pending hook it starts when the hook's
        writes are applied on the worker (its tags and finish are applied in order)."""
        cdef Span c = Span.new(self._st, self)
        self._call(_sp_spawn, (c, _span_text(name, "operation name")))
        return c

    def finish(self):
        """Finishes a child span (the stream's own span is finished by Envoy); idempotent."""
        if self._parent is None:
            raise EnvoyPyextError("the stream's span is finished by Envoy, not by the filter")
        if not self._finished:
            self._call(_sp_finish, ())
            self._finished = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._parent is not None and not self._finished:
            if exc is not None:
                self.set_tag("error", "true")
            self.finish()
        return False

    def __repr__(self):
        return "<Span child>" if self._parent is not None else "<Span of the stream>"
