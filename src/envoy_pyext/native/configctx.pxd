# ConfigContext: parse_config's optional second argument (configctx.pxi): work not tied to a
# request (config-level calls, spawned coroutines).
# THREAD: created on Envoy's main thread in config_new; spawn()/http_call() may be used from
# the event-loop thread; Envoy is called on the main thread only (config scheduler events).
cdef class ConfigContext:
    cdef readonly str filter_name
    cdef readonly bint is_validation
    cdef void* envoy_ptr            # the config's Envoy pointer (NULL once destroyed)
    cdef void* sched                # config scheduler (main thread events), lazily
    cdef set tasks                  # spawned Tasks, cancelled at destroy
    cdef dict callouts              # Envoy stream id -> _Callout
    cdef list queue                 # calls to start / ids to reset on the main thread
    cdef bint closed
    cdef bint loading               # inside Envoy's config_new (secrets may subscribe)
    cdef dict secrets               # generic secret name -> Envoy id (secrets.pxi)

    @staticmethod
    cdef ConfigContext new(str filter_name, void* envoy_ptr)
    cdef int _wake(self) except -1
    cdef int _abandon(self, _Callout c) except -1
    cdef int close(self) except -1
    cdef int run_queued(self) except -1
