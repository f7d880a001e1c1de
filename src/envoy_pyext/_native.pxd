# envoy-pyext: Apache-2.0
#
# The contract of the Cython core: every cdef class's fields and the cdef functions that cross
# topic files, one .pxd per concept (uvloop's loop.pxd pattern). The bodies are in native/*.pxi,
# included by _native.pyx. Each .pxd says which thread may use what (# THREAD:).
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t, uint64_t

from envoy_pyext.includes cimport abi
from envoy_pyext.includes.shim cimport pyext_config, pyext_stream

include "native/headers.pxd"
include "native/buffer.pxd"
include "native/shadow.pxd"
include "native/stream.pxd"
include "native/pending.pxd"
include "native/configctx.pxd"
include "native/callout.pxd"
include "native/httpstream.pxd"
include "native/routing.pxd"
include "native/streamctl.pxd"
include "native/callbacks.pxd"
include "native/tracing.pxd"
include "native/secrets.pxd"
include "native/runtime.pxd"
include "native/streaminfo.pxd"
include "native/metadata.pxd"
include "native/filterstate.pxd"
include "native/filter.pxd"
include "native/config.pxd"
include "native/routeconfig.pxd"
include "native/metrics.pxd"
include "native/localreply.pxd"
