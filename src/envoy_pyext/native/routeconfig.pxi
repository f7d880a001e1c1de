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

cdef set _LIVE_ROUTE_CONFIGS = set()    # addresses of the _RouteConfig objects Envoy holds


cdef class _RouteConfig:
    def __repr__(self):
        return f"<route config of {self.name}: {self.value!r}>"


cdef public void* pyext_on_per_route_config_new(
        const char* name, size_t name_length, const char* config, size_t config_length) noexcept:
    cdef _RouteConfig rc
    try:
        filter_name = PyUnicode_DecodeUTF8(name, name_length, "surrogateescape")
        raw = PyUnicode_DecodeUTF8(config, config_length, "surrogateescape")
        cls = _load_class(filter_name)
        try:
            value = cls.parse_route_config(raw)
        except BaseException as e:
            raise FilterConfigError(
                f"envoy-pyext: {filter_name}: parse_route_config rejected the per-route "
                f"filter_config: {type(e).__name__}: {e}\n{_format_exc(e)}") from None
        rc = _RouteConfig.__new__(_RouteConfig)
        rc.name = filter_name
        rc.cls = cls
        rc.value = value
        Py_INCREF(rc)
        _LIVE_ROUTE_CONFIGS.add(<size_t><void*>rc)
        return <void*>rc
    except FilterConfigError as e:
        _log(LL_CRITICAL, str(e))
    except BaseException as e:
        _log(LL_CRITICAL, f"envoy-pyext: loading a per-route config failed:\n{_format_exc(e)}")
    return NULL


cdef public void pyext_on_per_route_config_destroy(void* route_config) noexcept:
    if route_config == NULL:
        return
    _LIVE_ROUTE_CONFIGS.discard(<size_t>route_config)
    Py_DECREF(<object>route_config)


cdef int _route_config_prefetch(_Stream st) except -1:
    """Reads which per-route config applies (worker): before a hook's work leaves the worker,
    and on first use."""
    cdef const void* p
    if st._route_rc_known:
        return 0
    p = abi.envoy_dynamic_module_callback_get_most_specific_route_config(st._s.envoy_ptr)
    if p != NULL and _in_subinterp:
        _refuse_in_subinterp("self.route_config")   # Envoy's object is the main interpreter's
    st._route_rc = None
    if p != NULL and <size_t>p in _LIVE_ROUTE_CONFIGS:
        st._route_rc = <object>p
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
    if not issubclass(fc.cls, rc.cls):
        return None     # a per-route config for another filter class
    if rc.merged_for is not fc:
        rc.merged = fc.cls.merge_route_config(fc.config, rc.value)
        rc.merged_for = fc
    return rc.merged
