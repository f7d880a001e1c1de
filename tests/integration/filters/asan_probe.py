"""Filters for tests/integration/test_asan.py: they call the functions compiled only into the
AddressSanitizer build of libpyfilter.so (tools/asan/), whose path is the filter_config."""

from __future__ import annotations

import ctypes

from envoy_pyext import Filter


class _AsanLib(Filter):
    @classmethod
    def parse_config(cls, raw):
        return ctypes.CDLL(raw)  # the module Envoy already loaded: the same handle


class Routed(_AsanLib):
    """Answers with the number of heap blocks routed to ASan's heap so far."""

    def decode_headers(self, headers, end_stream):
        fn = self.config.pyext_asan_routed
        fn.restype = ctypes.c_long
        return self.callbacks.send_local_reply(200, body=str(fn()))


class UseAfterFree(_AsanLib):
    """Reads a heap block after freeing it (ASan reports it and ends the process)."""

    def decode_headers(self, headers, end_stream):
        value = self.config.pyext_asan_selftest_use_after_free(3)
        return self.callbacks.send_local_reply(200, body=f"not detected: {value}")
