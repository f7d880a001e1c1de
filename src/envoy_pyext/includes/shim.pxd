# envoy-pyext: Apache-2.0
#
# Cython view of cpp/include/pyext_shim.h: the structs the C++ shim shares with the Cython core.
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t

from envoy_pyext.includes cimport abi


cdef extern from "pyext_shim.h":
    enum:
        PYEXT_HOOK_DECODE_HEADERS
        PYEXT_HOOK_DECODE_DATA
        PYEXT_HOOK_DECODE_TRAILERS
        PYEXT_HOOK_ENCODE_HEADERS
        PYEXT_HOOK_ENCODE_DATA
        PYEXT_HOOK_ENCODE_TRAILERS
        PYEXT_HOOK_ON_LOG
        PYEXT_HOOK_ON_DESTROY
        PYEXT_BUSY_REPLIED
        PYEXT_BUSY_PENDING

    ctypedef struct pyext_config:
        uint32_t hooks
        PyObject* py

    ctypedef struct pyext_stream:
        pyext_config* config
        abi.envoy_dynamic_module_type_http_filter_envoy_ptr envoy_ptr
        PyObject* py
        uint32_t python_busy
