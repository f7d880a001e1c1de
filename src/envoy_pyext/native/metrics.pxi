# envoy-pyext: Apache-2.0
#
# Counter, Gauge, Histogram: Envoy metrics declared as class attributes of a Filter
#
#     class Observe(Filter):
#         requests = Counter("requests_total", labels=("route", "code"))
#         def on_log(self):
#             self.requests.inc(route=..., code=...)
#
# FilterConfig.load defines every metric of the class in Envoy (config_new, main thread:
# http_filter_config_define_*), under the module's metrics_namespace; the ids are per filter
# config (FilterConfig.metric_ids). `self.requests` is a bound metric (_BoundMetric) whose
# updates use the stream: on the worker the per-stream calls; from a pending hook the update is
# queued and applied on the worker (Envoy looks labelled stats and histograms up in
# thread-local caches: never from a thread of ours).

import re as _re

cdef object _METRIC_NAME = _re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
cdef object _LABEL_NAME = _re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

cdef enum:
    _M_COUNTER = 0
    _M_GAUGE = 1
    _M_HISTOGRAM = 2
    _OP_INC = 0
    _OP_DEC = 1
    _OP_SET = 2
    _OP_RECORD = 3

cdef tuple _KIND_NAMES = ("Counter", "Gauge", "Histogram")
cdef tuple _RESULT_NAMES = ("Success", "MetricNotFound", "InvalidLabels", "Frozen")
ctypedef abi.envoy_dynamic_module_type_module_buffer _MBuf


cdef class _Metric:
    """An Envoy metric declared on a Filter class (Counter, Gauge, Histogram)."""

    def __init__(self, str name, labels=()):
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}: letters, digits, '_' and '.', "
                             f"not starting with a digit")
        if isinstance(labels, str):
            raise TypeError("labels is a tuple of label names, not a str")
        labels = tuple(labels)
        for label in labels:
            if not isinstance(label, str) or not _LABEL_NAME.match(label):
                raise ValueError(f"invalid label name {label!r} of metric {name!r}: letters, "
                                 f"digits and '_', not starting with a digit")
        if len(set(labels)) != len(labels):
            raise ValueError(f"metric {name!r} names a label twice: {labels!r}")
        self.name = name
        self.labels = labels

    def __set_name__(self, owner, name):
        self.attribute = name

    def __get__(self, obj, objtype):
        if obj is None:
            return self
        if not isinstance(obj, Filter):
            raise TypeError(f"{_KIND_NAMES[self.kind]} {self.name!r} belongs on a Filter class")
        if (<Filter>obj)._rt is None and (<Filter>obj)._test is not None:
            return (<Filter>obj)._test.bound_metric(self)  # envoy_pyext.testing's stream
        cdef _BoundMetric b = (_BOUND_TYPES[self.kind]).__new__(_BOUND_TYPES[self.kind])
        b._m = self
        b._st = (<Filter>obj)._rt
        return b

    def __repr__(self):
        return f"{_KIND_NAMES[self.kind]}({self.name!r}, labels={self.labels!r})"


cdef class Counter(_Metric):
    """A counter: ``self.<attr>.inc(n=1, **labels)``."""

    def __init__(self, str name, labels=()):
        _Metric.__init__(self, name, labels)
        self.kind = _M_COUNTER


cdef class Gauge(_Metric):
    """A gauge: ``self.<attr>.set(value, **labels)``, ``.inc(n=1, **labels)``,
    ``.dec(n=1, **labels)``."""

    def __init__(self, str name, labels=()):
        _Metric.__init__(self, name, labels)
        self.kind = _M_GAUGE


cdef class Histogram(_Metric):
    """A histogram: ``self.<attr>.record(value, **labels)``."""

    def __init__(self, str name, labels=()):
        _Metric.__init__(self, name, labels)
        self.kind = _M_HISTOGRAM


cdef list _label_values(_Metric m, dict labels):
    if len(labels) != len(m.labels) or any(k not in labels for k in m.labels):
        raise ValueError(
            f"{_KIND_NAMES[m.kind]} {m.name!r} takes the labels {', '.join(m.labels) or '(none)'}"
            f"; got {', '.join(sorted(labels)) or '(none)'}")
    out = []
    for k in m.labels:
        v = labels[k]
        if isinstance(v, str):
            out.append((<str>v).encode("utf-8", "surrogateescape"))
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v).encode())
        else:
            raise TypeError(f"label {k!r} of {m.name!r} must be a str or an int, not "
                            f"{type(v).__name__}")
    return out


cdef uint64_t _amount(object value, bint allow_float) except? 0:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not allow_float):
        raise TypeError(f"a metric amount is a non-negative int"
                        f"{' or float' if allow_float else ''}, not {type(value).__name__}")
    if value != value or value < 0 or value >= 2 ** 64:
        raise ValueError(f"a metric amount must be in 0 .. 2**64-1, not {value!r}")
    return <uint64_t>round(value)


def _metric_apply(_Stream st, int kind, int op, size_t mid, list values, uint64_t amount):
    """One update, on the worker: the per-stream call during the stream, the config-level one
    once Envoy let the stream go (a pending hook's updates salvaged at destroy)."""
    cdef Py_ssize_t n = len(values), i
    cdef _MBuf* arr = NULL
    cdef void* ep = NULL
    cdef void* cep = st._fc.envoy_ptr
    cdef int r
    if st._s != NULL and st._s.envoy_ptr != NULL:
        ep = st._s.envoy_ptr
    if n:
        arr = <_MBuf*>malloc(n * sizeof(_MBuf))
        if arr == NULL:
            raise MemoryError()
    try:
        for i in range(n):
            arr[i] = _mbuf(values[i])
        if kind == _M_COUNTER:
            r = abi.envoy_dynamic_module_callback_http_filter_increment_counter(
                ep, mid, arr, n, amount) if ep != NULL else \
                abi.envoy_dynamic_module_callback_http_filter_config_increment_counter(
                    cep, mid, arr, n, amount)
        elif kind == _M_HISTOGRAM:
            r = abi.envoy_dynamic_module_callback_http_filter_record_histogram_value(
                ep, mid, arr, n, amount) if ep != NULL else \
                abi.envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
                    cep, mid, arr, n, amount)
        elif op == _OP_INC:
            r = abi.envoy_dynamic_module_callback_http_filter_increment_gauge(
                ep, mid, arr, n, amount) if ep != NULL else \
                abi.envoy_dynamic_module_callback_http_filter_config_increment_gauge(
                    cep, mid, arr, n, amount)
        elif op == _OP_DEC:
            r = abi.envoy_dynamic_module_callback_http_filter_decrement_gauge(
                ep, mid, arr, n, amount) if ep != NULL else \
                abi.envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
                    cep, mid, arr, n, amount)
        else:
            r = abi.envoy_dynamic_module_callback_http_filter_set_gauge(
                ep, mid, arr, n, amount) if ep != NULL else \
                abi.envoy_dynamic_module_callback_http_filter_config_set_gauge(
                    cep, mid, arr, n, amount)
    finally:
        free(arr)
    if r != abi.envoy_dynamic_module_type_metrics_result_Success:
        raise EnvoyPyextError(f"Envoy refused the metric update ({_RESULT_NAMES[r]})")


cdef int _metric_update(_BoundMetric b, int op, object value, dict labels) except -1:
    cdef _Metric m = b._m
    cdef _Stream st = b._st
    cdef uint64_t amount = _amount(value, m.kind == _M_HISTOGRAM)
    cdef list values = _label_values(m, labels)
    if st is None:
        raise EnvoyPyextError("this Filter is not bound to an Envoy stream")
    sh = _access(st)
    mid = st._fc.metric_ids.get(m) if st._fc.metric_ids is not None else None
    if mid is None:
        raise EnvoyPyextError(f"{_KIND_NAMES[m.kind]} {m.name!r} is not defined for this filter "
                              f"configuration (declare it on the Filter class; not in Envoy?)")
    if sh is None:
        _metric_apply(st, m.kind, op, mid, values, amount)
    else:
        (<_Shadow>sh).later.append((_metric_apply, (m.kind, op, mid, values, amount)))
    return 0


cdef int _metrics_salvage(_Stream st, _Shadow sh) except -1:
    """A cancelled pending hook's metric updates still count (worker)."""
    for fn, args in sh.later:
        if fn is _metric_apply:
            fn(st, *args)
    return 0


cdef class _BoundMetric:
    def __repr__(self):
        return f"<bound {self._m!r}>"


cdef class BoundCounter(_BoundMetric):
    """A Counter as seen from a stream (``self.<attr>``)."""

    def inc(self, n=1, /, **labels):
        """Adds ``n`` (default 1) to the counter of these label values."""
        _metric_update(self, _OP_INC, n, labels)


cdef class BoundGauge(_BoundMetric):
    """A Gauge as seen from a stream (``self.<attr>``)."""

    def set(self, value, /, **labels):
        _metric_update(self, _OP_SET, value, labels)

    def inc(self, n=1, /, **labels):
        _metric_update(self, _OP_INC, n, labels)

    def dec(self, n=1, /, **labels):
        _metric_update(self, _OP_DEC, n, labels)


cdef class BoundHistogram(_BoundMetric):
    """A Histogram as seen from a stream (``self.<attr>``)."""

    def record(self, value, /, **labels):
        """Records ``value`` (a non-negative int, or a float rounded to an int)."""
        _metric_update(self, _OP_RECORD, value, labels)


cdef tuple _BOUND_TYPES = (BoundCounter, BoundGauge, BoundHistogram)


cdef int _metrics_define(FilterConfig fc, object cls, void* config_envoy_ptr,
                         object worker_ids) except -1:
    """Defines the class's metrics in Envoy (config_new, main thread); with `worker_ids` (a
    per_worker config in a worker's interpreter, interp.pxi), takes the ids its check load
    defined instead."""
    cdef dict ids = {}
    cdef dict by_name = {}
    cdef _Metric m
    cdef size_t mid = 0
    cdef Py_ssize_t i, n
    cdef _MBuf* arr = NULL
    cdef bytes name
    cdef int r
    for klass in cls.__mro__:
        for attr, value in list(vars(klass).items()):
            if not isinstance(value, _Metric) or value in ids:
                continue
            m = value
            other = by_name.get(m.name)
            if other is not None and ((<_Metric>other).kind != m.kind
                                      or (<_Metric>other).labels != m.labels):
                raise FilterConfigError(
                    f"envoy-pyext: {fc.name}: two metrics are named {m.name!r} ({other!r}, "
                    f"{m!r})")
            by_name[m.name] = m
            if worker_ids is not None:
                ids[m] = _worker_metric_id(fc, m, worker_ids)
                continue
            if config_envoy_ptr == NULL:
                continue    # not in Envoy (unit tests): the metric cannot be used
            labels = [label.encode() for label in m.labels]
            n = len(labels)
            arr = <_MBuf*>malloc((n or 1) * sizeof(_MBuf))
            if arr == NULL:
                raise MemoryError()
            try:
                for i in range(n):
                    arr[i] = _mbuf(labels[i])
                name = m.name.encode()
                if m.kind == _M_COUNTER:
                    r = abi.envoy_dynamic_module_callback_http_filter_config_define_counter(
                        config_envoy_ptr, _mbuf(name), arr, n, &mid)
                elif m.kind == _M_GAUGE:
                    r = abi.envoy_dynamic_module_callback_http_filter_config_define_gauge(
                        config_envoy_ptr, _mbuf(name), arr, n, &mid)
                else:
                    r = abi.envoy_dynamic_module_callback_http_filter_config_define_histogram(
                        config_envoy_ptr, _mbuf(name), arr, n, &mid)
            finally:
                free(arr)
                arr = NULL
            if r != abi.envoy_dynamic_module_type_metrics_result_Success:
                raise FilterConfigError(f"envoy-pyext: {fc.name}: Envoy refused to define "
                                        f"{m!r} ({_RESULT_NAMES[r]})")
            ids[m] = mid
    fc.metric_ids = ids
    return 0
