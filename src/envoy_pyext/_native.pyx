# envoy-pyext: Apache-2.0
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=False
#
# The Cython core of envoy-pyext, compiled as ONE unit (uvloop style) and linked into
# libpyfilter.so, where the shim registers it as the builtin module `envoy_pyext._native`.
# The same source also builds as an ordinary extension for unit tests against a fake host.
#
# Topic files, in dependency order:
include "native/common.pxi"     # cimports, errors, Status, stats, logging into Envoy
include "native/aio.pxi"        # the shared asyncio event-loop thread, coroutine stepping
include "native/headers.pxi"    # HeaderMap: a view onto one of the stream's header maps
include "native/buffer.pxi"     # Buffer: a view onto the stream's body
include "native/shadow.pxi"     # _Shadow: what views use while a hook is pending
include "native/filter.pxi"     # Filter (user base class), Callbacks, per-hook state machine
include "native/config.pxi"     # FilterConfig: loading `package.module:Class`, parse_config
include "native/dispatch.pxi"   # pyext_on_*: the functions the C++ shim calls; the error barrier
