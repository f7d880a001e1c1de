# envoy-pyext: Apache-2.0
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=False
#
# The Cython core of envoy-pyext, compiled as ONE unit (uvloop style) and linked into
# libpyfilter.so, where the shim registers it as the builtin module `envoy_pyext._native`.
# The same source also builds as an ordinary extension for unit tests against a fake host.
# _native.pxd (and native/*.pxd) is the contract: the fields of every cdef class and the cdef
# functions shared between topic files. docs/design.md has the map of the code.
#
# Topic files, in dependency order:
cimport cython  # no-cython-lint (used by the included files: @cython.freelist)

include "native/common.pxi"           # cimports, errors, stats, logging into Envoy
include "native/status.pxi"           # Status, Envoy's statuses, sides and hook kinds (from the ABI)
include "native/aio.pxi"              # the shared asyncio event-loop thread, coroutine stepping
include "native/firststep.pxi"        # a hook coroutine's first step without a Task (the carrier)
include "native/headerfields.pxi"     # header names and values: checks, name caches, decoding
include "native/headers.pxi"          # HeaderMap: a view onto one of the stream's header maps
include "native/buffer.pxi"           # Buffer: a view onto the stream's body
include "native/bodyedit.pxi"         # Buffer.translate/upper/lower: in-place edits of Envoy's slices
include "native/shadow.pxi"           # _Shadow: what views use while a hook is pending
include "native/stream.pxi"           # _Stream: the per-stream runtime object, access checks, hooks
include "native/phase.pxi"            # the phase machine: transitions, hook status -> Envoy status
include "native/events.pxi"           # what each Envoy event does in each phase
include "native/pending.pxi"          # pending hooks: coroutines and threads, resume, cancel
include "native/callout.pxi"          # http_call: calls through Envoy clusters
include "native/callout_events.pxi"   # Envoy's events for a call: headers, data, end, reset
include "native/httpstream.pxi"       # http_stream: streamed calls
include "native/configctx.pxi"        # ConfigContext: config-level calls and spawned coroutines
include "native/routing.pxi"          # clear_route_cache, set_upstream_override_host, flags
include "native/streamctl.pxi"        # reset_stream, recreate_stream, send_go_away_and_close
include "native/callbacks.pxi"        # Callbacks (self.callbacks), local replies
include "native/tracing.pxi"          # Span: self.span, child spans
include "native/secrets.pxi"          # generic secrets: context.secret, self.secret
include "native/runtime.pxi"          # runtime values: envoy_pyext.runtime (main-thread reads)
include "native/streaminfo.pxi"       # StreamInfo (self.stream_info), get_property: attributes
include "native/metadata.pxi"         # Metadata (self.metadata): dynamic, route, cluster, host
include "native/filterstate.pxi"      # FilterState (self.filter_state): bytes and Python objects
include "native/metrics.pxi"          # Counter, Gauge, Histogram: Envoy metrics on a Filter class
include "native/filter.pxi"           # Filter: the class users subclass
include "native/routeconfig.pxi"      # per-route configuration: parse_route_config, route_config
include "native/config.pxi"           # FilterConfig: loading `package.module:Class`, parse_config
include "native/reuse.pxi"            # a stream's _Stream, Filter and views reused by the next stream
include "native/interp.pxi"           # interpreter: per_worker: the option, what sub-interpreters refuse
include "native/shared.pxi"           # envoy_pyext.shared: the process-wide store (any interpreter)
include "native/dispatch.pxi"         # pyext_on_*: the functions the C++ shim calls; the error barrier
include "native/localreply.pxi"       # on_local_reply, the Envoy-context set-up of a filter config
