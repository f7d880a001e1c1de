# envoy-pyext: Apache-2.0
#
# Per-route configuration. A route, virtual host or weighted cluster may carry, in
# typed_per_filter_config under the filter's name, a DynamicModuleFilterPerRoute whose
# filter_name names the filter's class: Envoy calls per_route_config_new (main thread) when it
# loads the route configuration, and the class's parse_route_config(raw) turns filter_config
# into an object (raising rejects the route configuration). In a stream, Envoy hands over the
# most specific one that applies (route over virtual host: Envoy 1.40 gives no access to the
# others), and self.route_config is merge_route_config(self.config, that) (cached per filter
# config), or None.
#
# What Envoy holds is a _RouteConfigHandle (C memory): the main interpreter's parsed
# _RouteConfig, and the raw name and config with a serial unique in the process. A per_worker
# sub-interpreter must not touch the main interpreter's object: on first use it parses the raw
# config itself (parse_route_config in that interpreter) and keeps the result by serial
# (addresses are reused after a destroy). The live configs are in a process-wide space of the
# shared store (shared.pxi): b"a<address>" -> serial (is this pointer one of ours, and which),
# b"s<serial>" (still live: a worker's cache drops what is not).

cdef set _LIVE_ROUTE_CONFIGS = set()    # addresses of the handles Envoy holds (main interpreter)
cdef uint64_t _route_config_serial = 0  # the last serial given (main interpreter, main thread)
cdef dict _sub_route_configs = {}       # sub-interpreter: serial -> _RouteConfig


cdef class _RouteConfig:
    def __repr__(self):
        return f"<route config of {self.name}: {self.value!r}>"


cdef inline bytes _rc_address_key(const void* p):
    return b"a%x" % <size_t>p


cdef inline bytes _rc_serial_key(uint64_t serial):
    return b"s%d" % serial


cdef _RouteConfig _route_config_parse(str filter_name, str raw):
    """parse_route_config in this interpreter; the error is FilterConfigError."""
    cdef _RouteConfig rc
    cls = _load_class(filter_name)
    try:
        value = cls.parse_route_config(raw)
    except BaseException as e:
        where = " in this worker's interpreter (interpreter 'per_worker')" if _in_subinterp else ""
        raise FilterConfigError(
            f"envoy-pyext: {filter_name}: parse_route_config rejected the per-route "
            f"filter_config{where}: {type(e).__name__}: {e}\n{_format_exc(e)}") from None
    rc = _RouteConfig.__new__(_RouteConfig)
    rc.name = filter_name
    rc.cls = cls
    rc.value = value
    return rc


cdef public void* pyext_on_per_route_config_new(
        const char* name, size_t name_length, const char* config, size_t config_length) noexcept:
    global _route_config_serial
    cdef _RouteConfigHandle* h = NULL
    try:
        filter_name = PyUnicode_DecodeUTF8(name, name_length, "surrogateescape")
        raw = PyUnicode_DecodeUTF8(config, config_length, "surrogateescape")
        rc = _route_config_parse(filter_name, raw)
        h = <_RouteConfigHandle*>malloc(sizeof(_RouteConfigHandle) + name_length + config_length)
        if h == NULL:
            raise MemoryError()
        _route_config_serial += 1
        h.serial = _route_config_serial
        h.name = <char*>h + sizeof(_RouteConfigHandle)
        h.name_length = name_length
        memcpy(h.name, name, name_length)
        h.raw = h.name + name_length
        h.raw_length = config_length
        memcpy(h.raw, config, config_length)
        _space_set(PYEXT_SPACE_ROUTE_CONFIGS, _rc_serial_key(h.serial), b"")
        _space_set(PYEXT_SPACE_ROUTE_CONFIGS, _rc_address_key(h), b"%d" % h.serial)
        h.main_rc = <PyObject*>rc
        Py_INCREF(rc)
        _LIVE_ROUTE_CONFIGS.add(<size_t>h)
        return h
    except FilterConfigError as e:
        _log(LL_CRITICAL, str(e))
    except BaseException as e:
        _log(LL_CRITICAL, f"envoy-pyext: loading a per-route config failed:\n{_format_exc(e)}")
    if h != NULL:
        _route_config_unregister(h)
        free(h)
    return NULL


cdef void _route_config_unregister(_RouteConfigHandle* h) noexcept:
    try:
        _space_erase(PYEXT_SPACE_ROUTE_CONFIGS, _rc_address_key(h))
        _space_erase(PYEXT_SPACE_ROUTE_CONFIGS, _rc_serial_key(h.serial))
    except BaseException as e:
        _log(LL_ERROR, f"envoy-pyext: unregistering a per-route config:\n{_format_exc(e)}")


cdef public void pyext_on_per_route_config_destroy(void* route_config) noexcept:
    cdef _RouteConfigHandle* h = <_RouteConfigHandle*>route_config
    if h == NULL:
        return
    _LIVE_ROUTE_CONFIGS.discard(<size_t>h)
    _route_config_unregister(h)
    Py_DECREF(<object>h.main_rc)
    free(h)


cdef object _sub_route_config(const void* p):
    """A per_worker sub-interpreter's own _RouteConfig for Envoy's handle `p` (parsed here at
    its first use on this worker), or None when `p` is not one of ours. A config that does not
    parse here gives a _RouteConfig with `error` set (raised where self.route_config is read)."""
    cdef _RouteConfigHandle* h
    cdef _RouteConfig rc
    serial = _space_get(PYEXT_SPACE_ROUTE_CONFIGS, _rc_address_key(p))
    if serial is None:
        return None
    rc = _sub_route_configs.get(int(serial))
    if rc is not None:
        return rc
    # A config new to this interpreter: first drop the ones Envoy destroyed since (a route
    # table churned by RDS must not grow this cache).
    for old in [s for s in _sub_route_configs
                if _space_get(PYEXT_SPACE_ROUTE_CONFIGS, _rc_serial_key(s)) is None]:
        del _sub_route_configs[old]
    h = <_RouteConfigHandle*>p     # live: Envoy holds it while the stream's route is in use
    filter_name = PyUnicode_DecodeUTF8(h.name, h.name_length, "surrogateescape")
    try:
        rc = _route_config_parse(
            filter_name, PyUnicode_DecodeUTF8(h.raw, h.raw_length, "surrogateescape"))
    except BaseException as e:
        rc = _RouteConfig.__new__(_RouteConfig)
        rc.name = filter_name
        rc.error = str(e) if isinstance(e, FilterConfigError) else \
            f"envoy-pyext: loading the per-route config of {filter_name} failed in this " \
            f"worker's interpreter:\n{_format_exc(e)}"
    _sub_route_configs[h.serial] = rc
    return rc


cdef int _route_config_prefetch(_Stream st) except -1:
    """Reads which per-route config applies (worker): before a hook's work leaves the worker,
    and on first use."""
    cdef const void* p
    cdef _RouteConfigHandle* h
    if st._route_rc_known:
        return 0
    p = abi.envoy_dynamic_module_callback_get_most_specific_route_config(st._s.envoy_ptr)
    st._route_rc = None
    if p != NULL:
        if _in_subinterp:
            st._route_rc = _sub_route_config(p)
        elif <size_t>p in _LIVE_ROUTE_CONFIGS:
            h = <_RouteConfigHandle*>p
            st._route_rc = <object>h.main_rc
    st._route_rc_known = True
    return 0


cdef object _route_config(_Stream st):
    cdef _RouteConfig rc
    cdef FilterConfig fc = st._fc
    sh = _access(st)
    if not st._route_rc_known:
        if sh is not None:
            raise EnvoyPyextError("self.route_config is not available here")  # see prefetch
        _route_config_prefetch(st)
    if st._route_rc is None:
        return None
    rc = st._route_rc
    if rc.error is not None:
        raise EnvoyPyextError(rc.error)     # it did not parse in this interpreter
    if not issubclass(fc.cls, rc.cls):
        return None     # a per-route config for another filter class
    if rc.merged_for is not fc:
        rc.merged = fc.cls.merge_route_config(fc.config, rc.value)
        rc.merged_for = fc
    return rc.merged


def _route_configs_cached():
    """The serials of the per-route configs this interpreter parsed and keeps (tests)."""
    return sorted(_sub_route_configs)
