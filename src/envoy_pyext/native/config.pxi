# envoy-pyext: Apache-2.0
#
# FilterConfig: one per DynamicModuleFilter entry in Envoy's configuration. Resolves
# `filter_name` ("package.module:ClassName") to a Filter subclass, runs its parse_config once,
# and records which hooks the class overrides so the shim can skip the others without the GIL.

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


cdef object _load_class(str filter_name):
    module_name, sep, class_name = filter_name.partition(":")
    if not sep or not module_name or not class_name:
        raise FilterConfigError(
            f"envoy-pyext: filter_name {filter_name!r} must name a class as "
            f"'package.module:ClassName'")
    try:
        module = _importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise FilterConfigError(
                f"envoy-pyext: cannot load filter {filter_name!r}: module {module_name!r} not "
                f"found (searched sys.path = {_sys.path!r}; add its directory to PYTHONPATH)"
            ) from None
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {filter_name!r}: importing {module_name!r} "
            f"failed:\n{_format_exc(e)}") from None
    except SyntaxError as e:
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {filter_name!r}: syntax error in "
            f"{e.filename}, line {e.lineno}: {e.msg}\n{_format_exc(e)}") from None
    except BaseException as e:
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {filter_name!r}: importing {module_name!r} "
            f"raised:\n{_format_exc(e)}") from None
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {filter_name!r}: module {module_name!r} has no "
            f"attribute {class_name!r}") from None
    if not isinstance(cls, type) or not issubclass(cls, Filter):
        raise FilterConfigError(
            f"envoy-pyext: {filter_name!r} is not a subclass of envoy_pyext.Filter "
            f"(it is {cls!r})")
    if cls is Filter:
        raise FilterConfigError(
            f"envoy-pyext: {filter_name!r} is envoy_pyext.Filter itself; name your subclass")
    return cls


cdef str _format_exc(BaseException e):
    return "".join(_traceback.format_exception(type(e), e, e.__traceback__))


cdef class FilterConfig:
    """A loaded filter configuration (one per DynamicModuleFilter entry)."""

    def __init__(self):
        raise TypeError("FilterConfig objects are created by envoy-pyext")

    @staticmethod
    cdef FilterConfig load(str filter_name, str raw, void* config_envoy_ptr):
        cdef FilterConfig fc = FilterConfig.__new__(FilterConfig)
        cls = _load_class(filter_name)
        fc.name = filter_name
        fc.cls = cls
        try:
            fc.config = cls.parse_config(raw)
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
        fc.envoy_ptr = config_envoy_ptr
        if config_envoy_ptr != NULL:
            fc._define_counters(config_envoy_ptr)
        _context_setup(fc, cls, config_envoy_ptr)  # metrics, on_local_reply (localreply.pxi)
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
        cdef _Stream st = _Stream.__new__(_Stream)
        cdef object obj = pyext_tp_new(self.cls, _NO_ARGS)
        st._bind(s, self, <Filter>obj)
        if self.has_init:
            obj.__init__()
        return st

    cdef void count_error(self) noexcept:
        # THREAD: Envoy counters are atomic; the config-level call needs no live stream.
        if self.has_error_counter and _in_envoy():
            abi.envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.envoy_ptr, self.error_counter, NULL, 0, 1)

    def __repr__(self):
        return f"<FilterConfig {self.name} events=0x{self.events:02x}>"
