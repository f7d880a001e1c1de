# envoy-pyext: Apache-2.0
#
# Runtime values (Envoy's layered_runtime), behind envoy_pyext.runtime.get_bool/int/float.
# MEASURED on Envoy 1.40: its runtime getters answer the real value on Envoy's main thread
# only; on a worker (and on any of our threads) they return the default. So every value is
# READ ON THE MAIN THREAD and remembered, per (type, key, default), in a process-wide space of
# the shared store (shared.pxi: C memory), so that every interpreter (the shared one and each
# `interpreter: per_worker` one) sees the same values:
#   - a call on the main thread (parse_config, ConfigContext work that runs there, in any
#     interpreter) reads it now;
#   - a call anywhere else (hooks on workers, coroutines, threads) returns the value read last
#     on the main thread; a (type, key, default) never read before returns `default` and is
#     registered, to be read on the main thread at the next refresh;
#   - every remembered value is read again on the main thread, by the main interpreter, at each
#     filter configuration load and every REFRESH_SECONDS (a loop-thread ticker wakes the main
#     thread through a live configuration's scheduler, CFG_EV_RUNTIME; a per_worker config
#     lends one from the shim: pyext_runtime_scheduler_new), so changes (an admin
#     /runtime_modify, a reloaded disk layer) reach the hooks within REFRESH_SECONDS.
# Entries: b"<kind>:<repr(default)>:<key>" -> repr(value) (no ':' in the first two; no NUL in a
# key: the store lists its keys NUL-separated); b"main-thread" -> the ident of
# Envoy's main thread (written by the main interpreter: a sub-interpreter's threading module
# may have been imported on a worker).

cdef enum:
    CFG_EV_RUNTIME = 2      # config scheduler event: read the remembered runtime values again

cdef double _RT_REFRESH_SECONDS = 1.0
cdef list _rt_contexts = []     # live ConfigContexts with a scheduler (to reach the main thread)
cdef list _rt_scheds = []       # the schedulers per_worker configs lent (addresses)
cdef bytes _RT_MAIN_KEY = b"main-thread"
cdef object _rt_ticker = None   # the loop-thread Task, once started


cdef unsigned long _rt_main_ident = 0    # Envoy's main thread (0: not known yet)


cdef bint _on_main_thread() except -1:
    global _rt_main_ident
    if not _in_envoy():
        return False
    if _rt_main_ident == 0:
        if not _in_subinterp:
            _rt_main_ident = _threading.main_thread().ident
            _space_set(PYEXT_SPACE_RUNTIME, _RT_MAIN_KEY, b"%d" % _rt_main_ident)
        else:
            got = _space_get(PYEXT_SPACE_RUNTIME, _RT_MAIN_KEY)
            if got is None:
                return False
            _rt_main_ident = int(got)
    return PyThread_get_thread_ident() == _rt_main_ident


cdef dict _rt_entries = {}      # (kind, key, default) -> its entry (this interpreter's cache)


cdef bytes _rt_entry(str kind, str key, object default):
    cdef tuple k = (kind, key, default)
    entry = _rt_entries.get(k)
    if entry is None:
        entry = _rt_entries[k] = b"%s:%s:%s" % (
            kind.encode(), repr(default).encode(), key.encode("utf-8", "surrogateescape"))
    return entry


cdef object _rt_decode(str kind, bytes raw):
    if kind == "bool":
        return raw == b"True"
    if kind == "int":
        return int(raw)
    return float(raw)


cdef object _runtime_read(str kind, str key, object default):
    cdef bytes b = key.encode("utf-8", "surrogateescape")
    if kind == "bool":
        value = bool(abi.envoy_dynamic_module_callback_get_runtime_bool(_mbuf(b), default))
    elif kind == "int":
        value = int(abi.envoy_dynamic_module_callback_get_runtime_int(_mbuf(b), default))
    else:
        value = float(abi.envoy_dynamic_module_callback_get_runtime_number(_mbuf(b), default))
    _space_set(PYEXT_SPACE_RUNTIME, _rt_entry(kind, key, default), repr(value).encode())
    return value


def _runtime_get(str kind, object key, object default):
    """envoy_pyext.runtime's getters (any thread, any interpreter)."""
    if not isinstance(key, str) or not key or "\0" in key:
        raise ValueError(f"a runtime key is a non-empty str without NUL, not {key!r}")
    if kind == "bool":
        default = bool(default)
    elif kind == "int":
        if isinstance(default, bool) or not isinstance(default, int) \
                or not 0 <= default < 2 ** 64:
            raise ValueError(f"get_int's default is an int in [0, 2**64) (Envoy's runtime "
                             f"integers are unsigned), not {default!r}")
        default = int(default)      # (an int subclass: its repr would not read back)
    else:
        default = float(default)
    if _on_main_thread():
        return _runtime_read(kind, key, default)
    if not _in_envoy():
        return default
    cdef bytes entry = _rt_entry(kind, key, default)
    got = _space_get(PYEXT_SPACE_RUNTIME, entry)
    if got is not None:
        return _rt_decode(kind, got)
    # Registered (unless another thread did meanwhile): read on the main thread at the next
    # refresh, which a per_worker config's scheduler or this interpreter's ticker triggers.
    _space_set(PYEXT_SPACE_RUNTIME, entry, repr(default).encode(), 0)
    if not _in_subinterp:
        _runtime_ticker_start()
    return default


def _runtime_refresh():
    """Main thread: reads every remembered value again."""
    for entry in _space_keys(PYEXT_SPACE_RUNTIME):
        parts = (<bytes>entry).split(b":", 2)
        if len(parts) == 3:
            kind = parts[0].decode()
            _runtime_read(kind, parts[2].decode("utf-8", "surrogateescape"),
                          _rt_decode(kind, parts[1]))


cdef bint _runtime_remembered() except -1:
    return any(b":" in entry for entry in _space_keys(PYEXT_SPACE_RUNTIME))


cdef int _runtime_ticker_start() except -1:
    global _rt_ticker
    if _rt_ticker is not None or not _in_envoy():
        return 0
    _rt_ticker = True   # claimed under the GIL; the Task replaces it on the loop thread
    _get_event_loop().loop.call_soon_threadsafe(_runtime_ticker_task)
    return 0


def _runtime_ticker_task():
    global _rt_ticker
    _rt_ticker = _get_event_loop().loop.create_task(_runtime_tick())


async def _runtime_tick():
    cdef ConfigContext ctx
    cdef size_t sched
    while True:
        await _asyncio.sleep(_RT_REFRESH_SECONDS)
        if not _runtime_remembered():
            continue
        for ctx in _rt_contexts:   # the GIL is held: no context is closed meanwhile
            if ctx.sched != NULL and not ctx.closed:
                abi.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                    ctx.sched, CFG_EV_RUNTIME)
                break
        else:
            for sched in _rt_scheds[:1]:
                abi.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                    <void*>sched, CFG_EV_RUNTIME)


cdef int _runtime_config_loaded(ConfigContext ctx) except -1:
    """Main thread, at each configuration load: values are read again; a configuration with
    a scheduler can wake the main thread for the ticker."""
    if ctx.sched != NULL:
        _rt_contexts.append(ctx)
    if not _in_subinterp and _on_main_thread() and _runtime_remembered():
        _runtime_refresh()
        _runtime_ticker_start()
    return 0


cdef int _runtime_config_closed(ConfigContext ctx) except -1:
    if ctx in _rt_contexts:
        _rt_contexts.remove(ctx)
    return 0


cdef public void* pyext_runtime_scheduler_new(void* config_envoy_ptr) noexcept:
    """Main interpreter, main thread: a scheduler of a per_worker config (the shim keeps it),
    by which the ticker wakes the main thread for the values that config's interpreters
    read."""
    cdef void* sched
    if not _in_envoy() or abi.envoy_dynamic_module_callback_is_validation_mode():
        return NULL
    sched = abi.envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config_envoy_ptr)
    if sched == NULL:
        return NULL
    try:
        _rt_scheds.append(<size_t>sched)
        _on_main_thread()             # publishes the main thread for the sub-interpreters
        if _runtime_remembered():
            _runtime_refresh()
        _runtime_ticker_start()
    except BaseException as e:
        _log(LL_ERROR, f"envoy-pyext: the runtime refresher:\n{_format_exc(e)}")
    return sched


cdef public void pyext_runtime_scheduler_delete(void* sched) noexcept:
    if <size_t>sched in _rt_scheds:
        _rt_scheds.remove(<size_t>sched)
    abi.envoy_dynamic_module_callback_http_filter_config_scheduler_delete(sched)


cdef public void pyext_runtime_scheduled(uint64_t event_id) noexcept:
    """Main thread: a per_worker config's scheduler fired (the ticker)."""
    if event_id != CFG_EV_RUNTIME:
        return
    try:
        _runtime_refresh()
    except BaseException as e:
        _log(LL_ERROR, f"envoy-pyext: runtime refresh failed:\n{_format_exc(e)}")
