# envoy-pyext: Apache-2.0
#
# FilterConfig: one per DynamicModuleFilter entry in Envoy's configuration. envoy_pyext._loader
# resolves `filter_name`/`filter_config` to a Filter subclass (a module's class, or inline
# source) and the version of its code; this runs its parse_config once and records which hooks
# the class overrides so the shim can skip the others without the GIL. With `reload` (a
# development option), a _LiveConfig lets the loader's watcher thread replace the config's
# current FilterConfig (new streams use it; a stream keeps the one it started with).

import importlib as _importlib

cdef extern from *:
    """
    /* Calls a type's tp_new directly: the per-stream Filter without cls.__new__'s lookup
       and argument parsing. */
    static PyObject* pyext_tp_new(PyObject* cls, PyObject* empty_args) {
        return ((PyTypeObject*)cls)->tp_new((PyTypeObject*)cls, empty_args, NULL);
    }
    """
    object pyext_tp_new(object cls, object empty_args)

cdef tuple _NO_ARGS = ()

# Filter subclass instances (3.11, 3.12) are made through object.__new__'s C slot, which sets up
# CPython's inline attribute values (Cython's own allocation does not), then get the fields
# Cython's constructor would have set (design.md "Filter attributes where CPython keeps them
# fastest"). Installed on Filter at import, before any subclass exists (they inherit the slot).
cdef extern from *:
    """
    static newfunc pyext_filter_cy_new = NULL;
    static PyObject* pyext_filter_no_args = NULL;
    static void (*pyext_filter_init)(PyObject*) = NULL;
    #define PYEXT_FILTER_FIELDS_INIT(o) do { \
        Py_INCREF(Py_None); Py_INCREF(Py_None); \
        ((struct __pyx_obj_11envoy_pyext_7_native_Filter*)(o))->_rt = \
            (struct __pyx_obj_11envoy_pyext_7_native__Stream*)Py_None; \
        ((struct __pyx_obj_11envoy_pyext_7_native_Filter*)(o))->_test = Py_None; } while (0)
    static PyObject* pyext_filter_new(PyTypeObject* t, PyObject* a, PyObject* k) {
    #if PY_VERSION_HEX < 0x030D0000
        if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
            PyObject* o = PyBaseObject_Type.tp_new(t, pyext_filter_no_args, NULL);
            if (o == NULL) return NULL;
            pyext_filter_init(o);
            return o;
        }
    #endif
        return pyext_filter_cy_new(t, a, k);
    }
    static void pyext_filter_install_new(PyObject* type, PyObject* no_args,
                                         void (*init)(PyObject*)) {
        PyTypeObject* t = (PyTypeObject*)type;
        if (pyext_filter_cy_new == NULL) {
            pyext_filter_cy_new = t->tp_new;
            Py_INCREF(no_args);
            pyext_filter_no_args = no_args;
            pyext_filter_init = init;
            t->tp_new = pyext_filter_new;
        }
    }
    """
    void pyext_filter_install_new(object type, object no_args, void (*init)(PyObject*) noexcept)
    void PYEXT_FILTER_FIELDS_INIT(PyObject* o) noexcept


cdef void _filter_init(PyObject* o) noexcept:
    """What Cython's constructor of Filter does besides allocating (fields, __cinit__)."""
    PYEXT_FILTER_FIELDS_INIT(o)
    _stats.live_filters += 1


pyext_filter_install_new(Filter, _NO_ARGS, _filter_init)

cdef uint32_t _EV_ALL = (PYEXT_EV_REQUEST_HEADERS | PYEXT_EV_REQUEST_BODY | PYEXT_EV_REQUEST_TRAILERS
                         | PYEXT_EV_RESPONSE_HEADERS | PYEXT_EV_RESPONSE_BODY
                         | PYEXT_EV_RESPONSE_TRAILERS | PYEXT_EV_STREAM_COMPLETE
                         | PYEXT_EV_DESTROY)

# Which ABI event each hook needs (the shim routes an event to Python only when its bit is
# set, or when the stream's phase needs Python: pyext_stream.python_busy).
_HOOK_EVENTS = (
    ("decode_headers", PYEXT_EV_REQUEST_HEADERS),
    ("decode_data", PYEXT_EV_REQUEST_BODY),
    ("decode_trailers", PYEXT_EV_REQUEST_TRAILERS),
    ("encode_headers", PYEXT_EV_RESPONSE_HEADERS),
    ("encode_data", PYEXT_EV_RESPONSE_BODY),
    ("encode_trailers", PYEXT_EV_RESPONSE_TRAILERS),
    ("on_log", PYEXT_EV_STREAM_COMPLETE),
    ("on_destroy", PYEXT_EV_DESTROY),
)


cdef object _overridden(object cls, str name):
    """The function that `cls` uses for `name` if it does not come from Filter, else None."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            if klass is Filter:
                return None
            return getattr(cls, name)
    return None


cdef object _loader_module = None


cdef object _code_loader():
    """envoy_pyext._loader (pure Python: which code a configuration runs, and its versions),
    imported at the first configuration, when the package is complete."""
    global _loader_module
    if _loader_module is None:
        from envoy_pyext import _loader
        _loader_module = _loader
    return _loader_module


cdef object _load_class(str filter_name):
    """The Filter subclass a per-route config names, `package.module:Class` (its module as
    imported now; per-route configs do not take part in code versions and reload)."""
    module_name, sep, class_name = filter_name.partition(":")
    if not sep or not module_name or not class_name:
        raise FilterConfigError(
            f"envoy-pyext: per-route filter_name {filter_name!r} must name a class as "
            f"'package.module:ClassName'")
    try:
        cls = getattr(_importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise FilterConfigError(
            f"envoy-pyext: cannot load {filter_name!r} for a per-route config: {e}") from None
    if not isinstance(cls, type) or not issubclass(cls, Filter) or cls is Filter:
        raise FilterConfigError(
            f"envoy-pyext: {filter_name!r} is not a subclass of envoy_pyext.Filter")
    return cls


cdef str _format_exc(BaseException e):
    # The user's frames; the runtime's own (.pxi) frames collapsed (envoy_pyext/_tb.py).
    try:
        return _importlib.import_module("envoy_pyext._tb").format_exception(e)
    except BaseException:
        return "".join(_traceback.format_exception(type(e), e, e.__traceback__))


cdef tuple _user_site(BaseException e):
    """(file, line) of the innermost frame of the user's code in e's traceback (for the log
    line's [file:line]); ("envoy_pyext", 0) when there is none."""
    try:
        return _importlib.import_module("envoy_pyext._tb").user_location(e)
    except BaseException:
        return ("envoy_pyext", 0)


cdef class FilterConfig:
    """A loaded filter configuration (one per DynamicModuleFilter entry)."""

    def __cinit__(self):
        _stats.live_configs += 1

    def __dealloc__(self):
        global _configs_freed
        _drop_spares(self)
        _stats.live_configs -= 1
        _configs_freed = True

    def __init__(self):
        raise TypeError("FilterConfig objects are created by envoy-pyext")

    @staticmethod
    cdef FilterConfig load(str filter_name, str raw, void* config_envoy_ptr, object ids=None):
        # `ids` (interp.pxi): in a per_worker config's worker interpreter, the Envoy ids its
        # check load defined (metrics are defined once, on the main thread, for all
        # interpreters). The ConfigContext of a sub-interpreter gets no Envoy pointer: its
        # config-level calls belong to Envoy's main thread, in the main interpreter.
        cdef ConfigContext ctx = ConfigContext.new(
            filter_name, NULL if _in_subinterp else config_envoy_ptr)
        cdef FilterConfig fc
        try:
            try:
                code = _code_loader().load(filter_name, raw)
            except BaseException as e:
                if _in_subinterp:
                    raise _subinterp_load_error(filter_name, e) from None
                raise
            if _in_subinterp:
                code.reload = False   # ENVOY_PYEXT_RELOAD: the watcher is the main interpreter's
            fc = FilterConfig._build(filter_name, code, ctx)
        finally:
            ctx.loading = False     # Envoy's config_new ends here (secrets.pxi)
        fc.envoy_ptr = config_envoy_ptr
        if ids is not None:
            _worker_ids_use(fc, ids)                  # interp.pxi
        elif config_envoy_ptr != NULL:
            fc._define_counters(config_envoy_ptr)
        # metrics (defined, or with `ids` looked up), on_local_reply (localreply.pxi)
        _context_setup(fc, fc.cls, NULL if ids is not None else config_envoy_ptr, ids)
        _runtime_config_loaded(ctx)                   # runtime.pxi
        return fc

    @staticmethod
    cdef FilterConfig _build(str filter_name, object code, ConfigContext context):
        """A FilterConfig for `code` (an envoy_pyext._loader.Code): parse_config and hooks."""
        cdef FilterConfig fc = FilterConfig.__new__(FilterConfig)
        cls = code.cls
        # Misspelled hooks, signatures the runtime cannot call (envoy_pyext/_checks.py).
        checks = _importlib.import_module("envoy_pyext._checks")
        checks.check_filter_class(cls, filter_name)
        fc.name = filter_name
        fc.cls = cls
        fc.code = code
        fc.context = context
        fc.carriers = [None] * _N_SLOTS    # (firststep.pxi)
        if not code.reload and _class_reusable(cls):
            fc._reuse = True                # (reuse.pxi)
        try:
            if checks.takes_context(cls.parse_config):
                fc.config = cls.parse_config(code.raw, context)
            else:
                fc.config = cls.parse_config(code.raw)
        except BaseException as e:
            raise FilterConfigError(
                f"envoy-pyext: {filter_name}: parse_config rejected the filter_config: "
                f"{type(e).__name__}: {e}\n{_format_exc(e)}") from None
        fc.fail_open = bool(getattr(cls, "fail_open", False))
        fc.events = 0
        for hook_name, bit in _HOOK_EVENTS:
            if _overridden(cls, hook_name) is not None:
                fc.events |= bit
        fc.fn_decode_headers = _overridden(cls, "decode_headers")
        fc.fn_decode_data = _overridden(cls, "decode_data")
        fc.fn_decode_trailers = _overridden(cls, "decode_trailers")
        fc.fn_encode_headers = _overridden(cls, "encode_headers")
        fc.fn_encode_data = _overridden(cls, "encode_data")
        fc.fn_encode_trailers = _overridden(cls, "encode_trailers")
        fc.fn_on_log = _overridden(cls, "on_log")
        fc.fn_on_destroy = _overridden(cls, "on_destroy")
        fc.has_init = any("__init__" in k.__dict__ for k in cls.__mro__[:cls.__mro__.index(Filter)])
        if fc.has_init:
            # The Filter is made at the request headers, so that an __init__ that raises is
            # answered (500) before anything went on.
            fc.events |= PYEXT_EV_REQUEST_HEADERS
        return fc

    cdef int _define_counters(self, void* config_envoy_ptr) except -1:
        # envoy_pyext_errors.<filter_name>, shown by Envoy's /stats without its namespace.
        cdef bytes name = ("envoy_pyext_errors." + self.name.replace(":", ".")).encode()
        cdef size_t counter_id = 0
        if abi.envoy_dynamic_module_callback_http_filter_config_define_counter(
                config_envoy_ptr, _mbuf(name), NULL, 0, &counter_id) == 0:
            self.error_counter = counter_id
            self.has_error_counter = True
        return 0

    cdef _Stream new_stream(self, pyext_stream* s):
        """The runtime's _Stream and the user's Filter for a stream (worker thread)."""
        cdef _Stream st = _take_spare(self)     # a recycled stream and Filter (reuse.pxi)
        cdef object obj
        if st is None:
            st = _Stream.__new__(_Stream)
            obj = pyext_tp_new(self.cls, _NO_ARGS)
        else:
            obj = st._filter
        st._bind(s, self, <Filter>obj)
        if self.has_init:
            try:
                st._context().run(obj.__init__)
            except BaseException as e:
                st._init_error = e  # answered by the first event (dispatch.pxi), not a hang
        return st

    cdef void count_error(self) noexcept:
        # THREAD: Envoy counters are atomic; the config-level call needs no live stream.
        if self.has_error_counter and _in_envoy():
            abi.envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.envoy_ptr, self.error_counter, NULL, 0, 1)

    def __repr__(self):
        return f"<FilterConfig {self.name} events=0x{self.events:02x} {self.code!r}>"


# A FilterConfig was freed: its code version may have gone with it (reap, at the next safe
# point: config_new/config_destroy, or after a stream's destroy).
cdef bint _configs_freed = False


cdef inline void _maybe_reap() noexcept:
    global _configs_freed
    if _configs_freed:
        _configs_freed = False
        _reap()


cdef void _reap() noexcept:
    try:
        _code_loader().reap()
    except BaseException as e:
        _log(LL_ERROR, f"envoy-pyext: freeing old code versions failed:\n{_format_exc(e)}")


def _code_stats():
    """The loader's part of envoy_pyext.stats()."""
    return {} if _loader_module is None else _loader_module.stats()


cdef class _LiveConfig:
    """A configuration with `reload`: the development watcher (envoy_pyext._loader) reads its
    current FilterConfig and replaces it with one built from new code. Main thread and the
    watcher thread, under the GIL; config_destroy clears `_c` first."""

    def current(self):
        """The FilterConfig new streams get, or None once Envoy destroyed the config."""
        return None if self._c == NULL else <object>self._c.py

    def swap(self, code):
        """Builds a FilterConfig for `code` (parse_config runs here) and makes it current.
        False if the configuration was destroyed meanwhile."""
        if self._c == NULL:
            return False
        cdef FilterConfig old = <FilterConfig>self._c.py
        cdef ConfigContext ctx = ConfigContext.new(old.name, old.envoy_ptr)
        ctx.loading = False                     # not in Envoy's config_new: no new secrets,
        if old.context is not None:             # the old configuration's stay subscribed
            ctx.secrets = old.context.secrets
        cdef FilterConfig new = FilterConfig._build(old.name, code, ctx)
        if self._c == NULL:   # destroyed while parse_config ran (it may release the GIL)
            new.context.close()
            return False
        old = <FilterConfig>self._c.py
        new.envoy_ptr = old.envoy_ptr
        try:
            _context_setup(new, new.cls, old.envoy_ptr, None)
        except BaseException as e:
            _log(LL_ERROR, f"envoy-pyext: {old.name}: the reloaded code's metrics could not be "
                           f"defined:\n{_format_exc(e)}")
        new.error_counter = old.error_counter
        new.has_error_counter = old.has_error_counter
        new._c = self._c
        new._live = self
        Py_INCREF(new)
        self._c.py = <PyObject*>new
        if old.context is not None:
            old.context.close()   # the replaced version's spawned work and calls end
        Py_DECREF(old)        # the config's reference; streams keep theirs
        return True
