# envoy-pyext: Apache-2.0
#
# Runtime values (Envoy's layered_runtime), behind envoy_pyext.runtime.get_bool/int/float.
# MEASURED on Envoy 1.40: its runtime getters answer the real value on Envoy's main thread
# only; on a worker (and on any of our threads) they return the default. So every value is
# READ ON THE MAIN THREAD and remembered, per (type, key, default):
#   - a call on the main thread (parse_config, ConfigContext work that runs there) reads it now;
#   - a call anywhere else (hooks on workers, coroutines, threads) returns the value read last
#     on the main thread; a (type, key, default) never read before returns `default` and is read
#     on the main thread at the next refresh;
#   - every remembered value is read again on the main thread at each filter configuration
#     load and every REFRESH_SECONDS (a loop-thread ticker wakes the main thread through a live
#     configuration's scheduler, CFG_EV_RUNTIME), so changes (an admin /runtime_modify, a
#     reloaded disk layer) reach the hooks within REFRESH_SECONDS.

cdef enum:
    CFG_EV_RUNTIME = 2      # config scheduler event: read the remembered runtime values again

cdef double _RT_REFRESH_SECONDS = 1.0
cdef dict _rt_values = {}       # (kind, key, default) -> the value read on the main thread
cdef list _rt_contexts = []     # live ConfigContexts with a scheduler (to reach the main thread)
cdef object _rt_ticker = None   # the loop-thread Task, once started


cdef inline bint _on_main_thread():
    return _in_envoy() and PyThread_get_thread_ident() == _threading.main_thread().ident


cdef object _runtime_read(tuple k):
    kind, key, default = k
    cdef bytes b = (<str>key).encode()
    if kind == "bool":
        return bool(abi.envoy_dynamic_module_callback_get_runtime_bool(_mbuf(b), default))
    if kind == "int":
        return int(abi.envoy_dynamic_module_callback_get_runtime_int(_mbuf(b), default))
    return float(abi.envoy_dynamic_module_callback_get_runtime_number(_mbuf(b), default))


def _runtime_get(str kind, object key, object default):
    """envoy_pyext.runtime's getters (any thread)."""
    _refuse_in_subinterp("envoy_pyext.runtime")   # read on Envoy's main thread, in the main's
    if not isinstance(key, str) or not key:
        raise ValueError(f"a runtime key is a non-empty str, not {key!r}")
    if kind == "bool":
        default = bool(default)
    elif kind == "int":
        if isinstance(default, bool) or not isinstance(default, int) \
                or not 0 <= default < 2 ** 64:
            raise ValueError(f"get_int's default is an int in [0, 2**64) (Envoy's runtime "
                             f"integers are unsigned), not {default!r}")
    else:
        default = float(default)
    cdef tuple k = (kind, key, default)
    if _on_main_thread():
        value = _runtime_read(k)
        _rt_values[k] = value
        return value
    if not _in_envoy():
        return default
    value = _rt_values.get(k, _rt_values)
    if value is _rt_values:
        _rt_values[k] = value = default     # read on the main thread at the next refresh
        _runtime_ticker_start()
    return value


def _runtime_refresh():
    """Main thread: reads every remembered value again."""
    for k in list(_rt_values):
        _rt_values[k] = _runtime_read(k)


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
    while True:
        await _asyncio.sleep(_RT_REFRESH_SECONDS)
        for ctx in _rt_contexts:   # the GIL is held: no context is closed meanwhile
            if ctx.sched != NULL and not ctx.closed:
                abi.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                    ctx.sched, CFG_EV_RUNTIME)
                break


cdef int _runtime_config_loaded(ConfigContext ctx) except -1:
    """Main thread, at each configuration load: values are read again; a configuration with
    a scheduler can wake the main thread for the ticker."""
    if ctx.sched != NULL:
        _rt_contexts.append(ctx)
    if _rt_values and _on_main_thread():
        _runtime_refresh()
    if _rt_values:
        _runtime_ticker_start()
    return 0


cdef int _runtime_config_closed(ConfigContext ctx) except -1:
    if ctx in _rt_contexts:
        _rt_contexts.remove(ctx)
    return 0
