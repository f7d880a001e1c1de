"""Drives the real C++ hooks and Cython core of envoy_pyext._native against the fake host.

    host = FakeHost()
    cfg = host.config("tests.unit.filters:Upper", "config")
    with host.stream(cfg, headers={":path": "/"}) as s:
        assert s.request_headers(end_of_stream=True) == 0
"""

from __future__ import annotations

import ctypes

import envoy_pyext._native as native

from tests.fakehost import FAKEHOST as lib

# ABI values from the compiled core (no ABI number is written in the tests).
HT_REQUEST_HEADERS, HT_REQUEST_TRAILERS, HT_RESPONSE_HEADERS, HT_RESPONSE_TRAILERS = (
    native._ABI[k] for k in ("HT_REQUEST_HEADERS", "HT_REQUEST_TRAILERS", "HT_RESPONSE_HEADERS",
                             "HT_RESPONSE_TRAILERS"))
BT_RECEIVED_REQUEST, BT_BUFFERED_REQUEST, BT_RECEIVED_RESPONSE, BT_BUFFERED_RESPONSE = (
    native._ABI[k] for k in ("BT_RECEIVED_REQUEST", "BT_BUFFERED_REQUEST", "BT_RECEIVED_RESPONSE",
                             "BT_BUFFERED_RESPONSE"))


class Buf(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("length", ctypes.c_size_t)]


def _buf(b: bytes) -> Buf:
    return Buf(b, len(b))


# The extension's own exported hooks; PyDLL keeps the GIL held across calls (the shim sees it
# is already held and does not take it again).
hooks = ctypes.PyDLL(native.__file__)
for name, restype, argtypes in [
    ("envoy_dynamic_module_on_http_filter_config_new", ctypes.c_void_p,
     [ctypes.c_void_p, Buf, Buf]),
    ("envoy_dynamic_module_on_http_filter_config_destroy", None, [ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_per_route_config_new", ctypes.c_void_p, [Buf, Buf]),
    ("envoy_dynamic_module_on_http_filter_per_route_config_destroy", None, [ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_new", ctypes.c_void_p,
     [ctypes.c_void_p, ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_request_headers", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_bool]),
    ("envoy_dynamic_module_on_http_filter_request_body", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_bool]),
    ("envoy_dynamic_module_on_http_filter_request_trailers", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_response_headers", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_bool]),
    ("envoy_dynamic_module_on_http_filter_response_body", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_bool]),
    ("envoy_dynamic_module_on_http_filter_response_trailers", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_stream_complete", None,
     [ctypes.c_void_p, ctypes.c_void_p]),
    ("envoy_dynamic_module_on_http_filter_destroy", None, [ctypes.c_void_p]),
    ("envoy_pyext_flush_destroyed_streams", None, []),
    ("envoy_dynamic_module_on_http_filter_scheduled", None,
     [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64]),
]:
    fn = getattr(hooks, name)
    fn.restype = restype
    fn.argtypes = argtypes

lib.fakehost_stream_new.restype = ctypes.c_void_p
lib.fakehost_stream_free.argtypes = [ctypes.c_void_p]
lib.fakehost_add_header.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p, ctypes.c_size_t]
lib.fakehost_set_has_map.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
lib.fakehost_set_route_config.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.fakehost_header_count.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.fakehost_header_count.restype = ctypes.c_size_t
lib.fakehost_header_at.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t,
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
lib.fakehost_add_chunk.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
lib.fakehost_body_size.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.fakehost_body_size.restype = ctypes.c_size_t
lib.fakehost_body_copy.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
lib.fakehost_reply_status.argtypes = [ctypes.c_void_p]
lib.fakehost_reply_body.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
lib.fakehost_reply_body.restype = ctypes.c_void_p
lib.fakehost_resets.argtypes = [ctypes.c_void_p]
lib.fakehost_continued.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.fakehost_commit_count.argtypes = [ctypes.c_void_p]
lib.fakehost_commit_count.restype = ctypes.c_size_t
lib.fakehost_commit_at.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
lib.fakehost_commit_at.restype = ctypes.c_uint64
lib.fakehost_log_count.restype = ctypes.c_size_t
lib.fakehost_log_at.argtypes = [ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
lib.fakehost_log_at.restype = ctypes.c_char_p


def logs() -> list[tuple[int, str]]:
    out = []
    for i in range(lib.fakehost_log_count()):
        level = ctypes.c_int()
        msg = lib.fakehost_log_at(i, ctypes.byref(level))
        out.append((level.value, msg.decode("utf-8", "replace")))
    return out


class Config:
    def __init__(self, filter_name: str, config: str = ""):
        self.ptr = hooks.envoy_dynamic_module_on_http_filter_config_new(
            None, _buf(filter_name.encode()), _buf(config.encode()))

    def destroy(self):
        if self.ptr:
            hooks.envoy_dynamic_module_on_http_filter_config_destroy(self.ptr)
            self.ptr = None


def route_config_new(filter_name: str, config: str) -> int | None:
    """Envoy's per_route_config_new (its main thread): the handle, or None (rejected)."""
    return hooks.envoy_dynamic_module_on_http_filter_per_route_config_new(
        _buf(filter_name.encode()), _buf(config.encode()))


def route_config_destroy(ptr: int) -> None:
    hooks.envoy_dynamic_module_on_http_filter_per_route_config_destroy(ptr)


class Stream:
    """One fake HTTP stream: the fake Envoy state plus our module's per-stream pointer."""

    def __init__(self, config: Config, headers=None):
        self.ep = lib.fakehost_stream_new()
        for k, v in (headers or {}).items() if isinstance(headers, dict) else (headers or []):
            self.add_header(HT_REQUEST_HEADERS, k, v)
        self.mp = hooks.envoy_dynamic_module_on_http_filter_new(config.ptr, self.ep)
        self.destroyed = False

    # fake Envoy state
    def add_header(self, htype: int, k, v):
        k = k.encode() if isinstance(k, str) else k
        v = v.encode("latin-1") if isinstance(v, str) else v
        lib.fakehost_add_header(self.ep, htype, k, len(k), v, len(v))

    def set_has_map(self, htype: int, has: bool):
        lib.fakehost_set_has_map(self.ep, htype, int(has))

    def set_route_config(self, ptr: int | None):
        """What Envoy answers as the stream's most specific per-route config."""
        lib.fakehost_set_route_config(self.ep, ptr)

    def headers(self, htype: int = HT_REQUEST_HEADERS) -> list[tuple[bytes, bytes]]:
        out = []
        for i in range(lib.fakehost_header_count(self.ep, htype)):
            k, v = ctypes.c_void_p(), ctypes.c_void_p()
            kl, vl = ctypes.c_size_t(), ctypes.c_size_t()
            lib.fakehost_header_at(self.ep, htype, i, ctypes.byref(k), ctypes.byref(kl),
                                   ctypes.byref(v), ctypes.byref(vl))
            out.append((ctypes.string_at(k, kl.value), ctypes.string_at(v, vl.value)))
        return out

    def add_chunk(self, kind: int, data: bytes):
        lib.fakehost_add_chunk(self.ep, kind, data, len(data))

    def body(self, kind: int) -> bytes:
        n = lib.fakehost_body_size(self.ep, kind)
        out = ctypes.create_string_buffer(n)
        lib.fakehost_body_copy(self.ep, kind, out)
        return out.raw[:n]

    def reply(self) -> tuple[int, bytes]:
        n = ctypes.c_size_t()
        p = lib.fakehost_reply_body(self.ep, ctypes.byref(n))
        return lib.fakehost_reply_status(self.ep), ctypes.string_at(p, n.value) if n.value else b""

    def resets(self) -> int:
        return lib.fakehost_resets(self.ep)

    def continued(self, encoding: bool = False) -> int:
        return lib.fakehost_continued(self.ep, int(encoding))

    def commits(self) -> list[int]:
        n = lib.fakehost_commit_count(self.ep)
        return [lib.fakehost_commit_at(self.ep, i) for i in range(n)]

    # hooks, as Envoy would call them
    def request_headers(self, end_of_stream=False) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_request_headers(self.ep, self.mp,
                                                                         end_of_stream)

    def request_body(self, end_of_stream=False) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_request_body(self.ep, self.mp,
                                                                      end_of_stream)

    def request_trailers(self) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_request_trailers(self.ep, self.mp)

    def response_headers(self, end_of_stream=False) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_response_headers(self.ep, self.mp,
                                                                          end_of_stream)

    def response_body(self, end_of_stream=False) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_response_body(self.ep, self.mp,
                                                                       end_of_stream)

    def response_trailers(self) -> int:
        return hooks.envoy_dynamic_module_on_http_filter_response_trailers(self.ep, self.mp)

    def stream_complete(self):
        hooks.envoy_dynamic_module_on_http_filter_stream_complete(self.ep, self.mp)

    def scheduled(self, event_id: int):
        hooks.envoy_dynamic_module_on_http_filter_scheduled(self.ep, self.mp, event_id)

    def destroy(self, flush=True):
        """Envoy's destroy. Unless the filter must run Python now, the runtime finalises the
        stream at the worker's next GIL hold; `flush` makes that happen here."""
        if not self.destroyed:
            hooks.envoy_dynamic_module_on_http_filter_destroy(self.mp)
            self.destroyed = True
        if flush:
            hooks.envoy_pyext_flush_destroyed_streams()

    def free(self):
        self.destroy()
        lib.fakehost_stream_free(self.ep)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()
