# envoy-pyext: Apache-2.0
#
# Cython view of cpp/include/pyext_shim.h: the structs the C++ shim shares with the Cython core.
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t

from envoy_pyext.includes cimport abi


cdef extern from "pyext_shim.h":
    enum:
        PYEXT_EV_REQUEST_HEADERS
        PYEXT_EV_REQUEST_BODY
        PYEXT_EV_REQUEST_TRAILERS
        PYEXT_EV_RESPONSE_HEADERS
        PYEXT_EV_RESPONSE_BODY
        PYEXT_EV_RESPONSE_TRAILERS
        PYEXT_EV_STREAM_COMPLETE
        PYEXT_EV_DESTROY
        PYEXT_EV_LOCAL_REPLY
        PYEXT_BUSY_ROUTE_ALL
        PYEXT_BUSY_PENDING

    ctypedef struct pyext_config:
        uint32_t events
        PyObject* py
        uint32_t per_worker

    ctypedef struct pyext_stream:
        pyext_config* config
        abi.envoy_dynamic_module_type_http_filter_envoy_ptr envoy_ptr
        PyObject* py
        uint32_t python_busy
        uint32_t complete
