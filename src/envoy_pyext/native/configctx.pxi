# envoy-pyext: Apache-2.0
#
# ConfigContext: the optional second argument of parse_config, for work that belongs to a
# filter configuration rather than to a request: refresh a JWKS or a policy every N seconds,
# warm a cache at load.
#
#     @classmethod
#     def parse_config(cls, raw, context):
#         cfg = Config(raw)
#         context.spawn(cfg.refresh(context))     # a coroutine on the runtime's event loop
#         return cfg
#
# context.http_call(...) is self.http_call's config-level twin: same arguments and result, made
# through Envoy's config-level callout ABI. Envoy allows those calls only on its main thread, so
# the call is queued and the main thread is woken through the config's scheduler
# (on_http_filter_config_scheduled); Envoy delivers the response on the main thread, where the
# call's future is resolved (loop locked) and the loop thread woken. Spawned coroutines are
# cancelled when the configuration is destroyed (an update replaced it, or Envoy shuts down);
# under `envoy --mode validate` nothing is spawned.

cdef enum:
    CFG_EV_CALLOUTS = 1     # config scheduler event: start/reset the queued calls


cdef class ConfigContext:
    """What parse_config(cls, raw, context) gets: ``filter_name``, ``is_validation``,
    ``spawn(coro)``, ``http_call(...)`` and ``secret(name, sds_config)``."""

    def __init__(self):
        raise TypeError("ConfigContext objects are created by envoy-pyext")

    @staticmethod
    cdef ConfigContext new(str filter_name, void* envoy_ptr):
        cdef ConfigContext ctx = ConfigContext.__new__(ConfigContext)
        ctx.filter_name = filter_name
        ctx.envoy_ptr = envoy_ptr
        # Envoy answers this on its main thread only (a per_worker sub-interpreter loads on
        # the main thread for the load's check, then on each worker: never validating there).
        ctx.is_validation = (_in_envoy() and (not _in_subinterp or _on_main_thread())
                             and abi.envoy_dynamic_module_callback_is_validation_mode())
        ctx.tasks = set()
        ctx.callouts = {}
        ctx.queue = []
        ctx.secrets = {}
        ctx.loading = envoy_ptr != NULL
        if envoy_ptr != NULL and _in_envoy() and not ctx.is_validation:
            # Made here, on the main thread; commits are safe from any thread.
            ctx.sched = abi.envoy_dynamic_module_callback_http_filter_config_scheduler_new(
                envoy_ptr)
        return ctx

    def spawn(self, coro):
        """Runs the coroutine ``coro`` on the runtime's event loop for as long as this
        configuration lives (it is cancelled when the configuration is destroyed). Returns its
        asyncio Task, or None under ``envoy --mode validate`` (nothing runs there). With
        ``interpreter: per_worker`` each interpreter runs its own (parse_config runs in each)."""
        if not _is_awaitable(coro):
            raise TypeError(f"spawn() takes a coroutine, not {type(coro).__name__}")
        if self.is_validation or self.closed:
            if hasattr(coro, "close"):
                coro.close()
            return None
        loop = _get_event_loop().loop
        _lock_loop()
        try:
            task = loop.create_task(_as_coroutine(coro))
            self.tasks.add(task)
            task.add_done_callback(self._task_done)
        finally:
            _unlock_loop()
        loop._write_to_self()
        return task

    def _task_done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            _stats.errors += 1
            _log(LL_ERROR, f"envoy-pyext: {self.filter_name}: a spawned coroutine raised:\n"
                           f"{_format_exc(exc)}")

    def secret(self, name, sds_config=None):
        """Subscribes this configuration to the SDS generic secret ``name`` (parse_config
        only); hooks read it with ``self.secret(name)``. ``sds_config``: where Envoy gets it,
        a config.core.v3.ConfigSource as a dict (or its JSON), e.g.
        ``{"path_config_source": {"path": "/etc/envoy/secrets.yaml"}}`` (Envoy then needs the
        bootstrap's node id and cluster); None: the bootstrap's static secret ``name``. Raises
        EnvoyPyextError when Envoy refuses (its log says why)."""
        _secret_subscribe(self, name, sds_config)

    def http_call(self, cluster, str method="GET", str path="/", headers=None, body=b"",
                  double timeout=5.0, max_response_bytes=None):
        """Like Filter.http_call, for work not tied to a request: made on Envoy's main thread
        through the configuration; ``await`` it for an HttpResponse."""
        _refuse_in_subinterp("ConfigContext.http_call")
        cdef _Callout c = _new_callout(cluster, method, path, headers, body, timeout,
                                       max_response_bytes)
        if self.closed or self.envoy_ptr == NULL:
            raise EnvoyPyextError("this filter configuration was destroyed")
        c.ctx = self
        self.queue.append(c)
        self._wake()
        return _await_callout(c)

    cdef int _wake(self) except -1:
        # THREAD: commit is safe from any thread (the scheduler was made on the main thread).
        if self.sched == NULL:
            raise EnvoyPyextError("config-level calls need a running Envoy (not --mode validate)")
        abi.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
            self.sched, CFG_EV_CALLOUTS)
        return 0

    cdef int _abandon(self, _Callout c) except -1:
        """A config-level call's Task was cancelled: reset its stream on the main thread."""
        if c.finished or self.closed:
            return 0
        c.finished = True
        if c.id == 0:
            return 0
        if self.callouts.pop(c.id, None) is not None:
            _stats.live_callouts -= 1
        self.queue.append(c.id)
        self._wake()
        return 0

    cdef int run_queued(self) except -1:
        """Main thread (config scheduled event): starts the queued calls, resets the
        abandoned ones."""
        cdef list queue = self.queue
        self.queue = []
        if self.closed:
            return 0
        for item in queue:
            if isinstance(item, _Callout):
                if not (<_Callout>item).finished:
                    (<_Callout>item).start()
            else:
                abi.envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
                    self.envoy_ptr, item)
        return 0

    cdef int close(self) except -1:
        """The configuration is destroyed (main thread): spawned coroutines are cancelled,
        calls in flight are reset and their futures cancelled."""
        cdef _Callout c
        if self.closed:
            return 0
        self.closed = True
        _runtime_config_closed(self)
        calls = list(self.callouts.values())
        self.callouts.clear()
        _stats.live_callouts -= len(calls)
        for c in calls:
            c.finished = True
            if self.envoy_ptr != NULL:
                abi.envoy_dynamic_module_callback_http_filter_config_reset_http_stream(
                    self.envoy_ptr, c.id)
        queued = [x for x in self.queue if isinstance(x, _Callout)]
        self.queue = []
        loop = _get_event_loop().loop if (self.tasks or calls or queued) else None
        if loop is not None:
            _lock_loop()
            try:
                for c in calls + queued:
                    c.finished = True
                    if not c.future.done():
                        c.future.cancel()
                for task in list(self.tasks):
                    task.cancel()
            finally:
                _unlock_loop()
            loop._write_to_self()
        if self.sched != NULL:
            abi.envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.sched)
            self.sched = NULL
        self.envoy_ptr = NULL
        return 0


cdef inline _Callout _config_callout_of(pyext_config* c, uint64_t stream_id):
    if c == NULL or c.py == NULL:
        return None
    cdef ConfigContext ctx = (<FilterConfig>c.py).context
    return ctx.callouts.get(stream_id) if ctx is not None else None


cdef public void pyext_on_config_scheduled(pyext_config* c, uint64_t event_id) noexcept:
    cdef ConfigContext ctx
    if c == NULL or c.py == NULL:
        return
    ctx = (<FilterConfig>c.py).context
    if ctx is None:
        return
    try:
        if event_id == CFG_EV_RUNTIME:
            _runtime_refresh()      # runtime.pxi
        else:
            ctx.run_queued()
    except BaseException:
        _log_callout_error("start (config-level)" if event_id != CFG_EV_RUNTIME
                           else "runtime refresh")


cdef public void pyext_on_config_callout_headers(
        pyext_config* c, uint64_t stream_id,
        abi.envoy_dynamic_module_type_envoy_http_header* headers, size_t n,
        int end_stream) noexcept:
    cdef _Callout call = _config_callout_of(c, stream_id)
    if call is not None:
        try:
            _callout_headers(call, headers, n, end_stream)
        except BaseException:
            _log_callout_error("response headers (config-level)")


cdef public void pyext_on_config_callout_data(
        pyext_config* c, uint64_t stream_id, const abi.envoy_dynamic_module_type_envoy_buffer* data,
        size_t n, int end_stream) noexcept:
    cdef _Callout call = _config_callout_of(c, stream_id)
    if call is not None:
        try:
            _callout_data(call, data, n, end_stream)
        except BaseException:
            _log_callout_error("response body (config-level)")


cdef public void pyext_on_config_callout_trailers(
        pyext_config* c, uint64_t stream_id,
        abi.envoy_dynamic_module_type_envoy_http_header* trailers, size_t n) noexcept:
    cdef _Callout call = _config_callout_of(c, stream_id)
    if call is not None:
        try:
            call.trailers.extend(_copy_envoy_headers(trailers, n))  # (a list shared with stream)
        except BaseException:
            _log_callout_error("response trailers (config-level)")


cdef public void pyext_on_config_callout_end(pyext_config* c, uint64_t stream_id,
                                             int reason) noexcept:
    cdef _Callout call = _config_callout_of(c, stream_id)
    if call is not None:
        try:
            _callout_end(call, reason)
        except BaseException:
            _log_callout_error("end (config-level)")
