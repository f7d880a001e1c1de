"""The hook state machine and the error barrier, driven through the real C++ hooks."""

import pytest

import envoy_pyext
from envoy_pyext._native import _ABI

from . import filters
import ctypes

from tests.fakehost.driver import (BT_BUFFERED_REQUEST, BT_RECEIVED_REQUEST,
                                   BT_RECEIVED_RESPONSE, HT_REQUEST_HEADERS, Config, Stream,
                                   lib, logs)

lib.envoy_dynamic_module_callback_http_drain_body.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                              ctypes.c_size_t]

CONTINUE, STOP_ITERATION, STOP_ALL_BUFFER, STOP_ALL_WATERMARK = (
    _ABI[k] for k in ("HDR_CONTINUE", "HDR_STOP_ITERATION", "HDR_STOP_ALL_BUFFER",
                      "HDR_STOP_ALL_WATERMARK"))
BODY_CONTINUE, BODY_STOP_BUFFER, BODY_STOP_WATERMARK, BODY_STOP_NO_BUFFER = (
    _ABI[k] for k in ("BODY_CONTINUE", "BODY_STOP_BUFFER", "BODY_STOP_WATERMARK",
                      "BODY_STOP_NO_BUFFER"))


def test_unoverridden_hooks_never_reach_python():
    cfg = Config("tests.unit.filters:NothingOverridden")
    before = envoy_pyext.stats()["filters_created"]
    with Stream(cfg) as s:
        assert s.request_headers() == CONTINUE
        assert s.request_body(True) == BODY_CONTINUE
        assert s.response_headers(True) == CONTINUE
        s.stream_complete()
    # no Python Filter object was ever created for this stream
    assert envoy_pyext.stats()["filters_created"] == before
    cfg.destroy()


def test_headers_only_filter_creates_one_object_per_stream():
    cfg = Config("tests.unit.filters:HeadersOnly")
    before = envoy_pyext.stats()
    with Stream(cfg) as s:
        assert s.request_headers(True) == CONTINUE
        assert (b"x-seen", b"1") in s.headers(HT_REQUEST_HEADERS)
        assert s.response_headers(True) == CONTINUE
        assert envoy_pyext.stats()["live_streams"] == before["live_streams"] + 1
    after = envoy_pyext.stats()
    assert after["filters_created"] == before["filters_created"] + 1
    assert after["live_streams"] == before["live_streams"]
    assert after["live_filters"] == before["live_filters"]  # freed, not leaked
    cfg.destroy()


def envoy_buffers(s):
    """What Envoy does after StopIterationAndBuffer: the received chunk joins its buffer."""
    chunk = s.body(BT_RECEIVED_REQUEST)
    lib.envoy_dynamic_module_callback_http_drain_body(s.ep, BT_RECEIVED_REQUEST, len(chunk))
    s.add_chunk(BT_BUFFERED_REQUEST, chunk)


def test_stop_and_buffer_calls_data_hook_once_with_whole_body():
    cfg = Config("tests.unit.filters:Buffering")
    filters.Buffering.calls.clear()
    with Stream(cfg, headers={"content-length": "9"}) as s:
        # no decode_headers: the headers go on at once (never held until the first chunk)
        assert s.request_headers(False) == CONTINUE
        s.add_chunk(BT_RECEIVED_REQUEST, b"abc")
        assert s.request_body(False) == BODY_STOP_BUFFER      # the hook asked to buffer
        envoy_buffers(s)
        s.add_chunk(BT_RECEIVED_REQUEST, b"def")
        assert s.request_body(False) == BODY_STOP_BUFFER      # buffered without calling it
        envoy_buffers(s)
        s.add_chunk(BT_RECEIVED_REQUEST, b"ghi")
        assert s.request_body(True) == BODY_CONTINUE          # whole body, once
        assert filters.Buffering.calls == [(b"abc", False), (b"abcdefghi", True)]
        assert s.body(BT_BUFFERED_REQUEST) + s.body(BT_RECEIVED_REQUEST) == b"ABCDEFGHI"
    cfg.destroy()


@pytest.mark.parametrize("status,headers_code,body_code", [
    ("CONTINUE", CONTINUE, BODY_CONTINUE),   # headers go on: never held for the data hook
    ("STOP_AND_BUFFER", STOP_ITERATION, BODY_STOP_BUFFER),
    ("STOP_AND_BUFFER_WATERMARK", STOP_ITERATION, BODY_STOP_WATERMARK),
    ("STOP_NO_BUFFER", STOP_ITERATION, BODY_STOP_NO_BUFFER),
])
def test_status_mapping(status, headers_code, body_code):
    cfg = Config("tests.unit.filters:Returns", status)
    with Stream(cfg) as s:
        assert s.request_headers(False) == headers_code
        s.add_chunk(BT_RECEIVED_REQUEST, b"x")
        assert s.request_body(False) == body_code
    cfg.destroy()


def test_exception_on_request_path_answers_500_and_logs_traceback():
    cfg = Config("tests.unit.filters:Raises")
    with Stream(cfg) as s:
        assert s.request_headers(True) == STOP_ITERATION
        assert s.reply() == (500, b"Internal Server Error\n")
    assert any("tests.unit.filters:Raises.decode_headers raised; answering 500" in m
               and "ValueError: unit boom" in m for _, m in logs())
    cfg.destroy()


def test_exception_in_response_headers_answers_500():
    # The response headers have not gone out: the client still gets a clean 500.
    cfg = Config("tests.unit.filters:Raises")
    with Stream(cfg) as s:
        s.set_has_map(2, True)
        assert s.response_headers(True) == STOP_ITERATION
        assert s.resets() == 0 and s.reply()[0] == 500
    cfg.destroy()


def test_exception_on_response_path_after_headers_went_out_resets():
    cfg = Config("tests.unit.filters:RaisesInResponseBody")
    with Stream(cfg) as s:
        s.set_has_map(2, True)
        assert s.response_headers(False) == CONTINUE
        s.add_chunk(BT_RECEIVED_RESPONSE, b"x")
        assert s.response_body(True) == BODY_STOP_NO_BUFFER
        assert s.resets() == 1 and s.reply()[0] == 0
    cfg.destroy()


def test_fail_open_continues():
    cfg = Config("tests.unit.filters:RaisesOpen")
    with Stream(cfg) as s:
        assert s.request_headers(True) == CONTINUE
        assert s.reply()[0] == 0
    cfg.destroy()


def test_local_reply_stops_and_sends():
    cfg = Config("tests.unit.filters:Replies")
    with Stream(cfg) as s:
        assert s.request_headers(True) == STOP_ITERATION
        assert s.reply() == (403, b"no")
    cfg.destroy()


@pytest.mark.parametrize("name,message", [
    ("tests.unit.nope:X", "module 'tests.unit.nope' not found"),
    ("tests.unit.filters:Missing", "has no attribute 'Missing'"),
    ("tests.unit.filters", "must name a class"),
    ("envoy_pyext:Filter", "is envoy_pyext.Filter itself"),
    ("tests.unit.filters:Returns", "parse_config rejected the filter_config: KeyError"),
])
def test_bad_config_returns_null_and_logs(name, message):
    cfg = Config(name, "NOT_A_STATUS")
    assert cfg.ptr is None
    assert any(message in m for _, m in logs()), logs()[-3:]


def test_destroy_defers_python_work_but_views_die_at_once():
    cfg = Config("tests.unit.filters:Capture")
    before = envoy_pyext.stats()
    s = Stream(cfg, headers={"x-a": "1"})
    filters.captured.clear()
    s.request_headers(True)
    f = filters.captured.pop()
    h = f.request_headers
    s.destroy(flush=False)  # no on_destroy, nothing pending: no GIL needed in destroy
    assert envoy_pyext.stats()["live_streams"] == before["live_streams"] + 1  # not final yet
    with pytest.raises(envoy_pyext.StreamDestroyedError):
        h.get("x-a")  # but the stream is already dead to Python
    with Stream(cfg) as other:
        other.request_headers(True)  # the next hook on this thread finalises it
        # s is finalised, other is alive
        assert envoy_pyext.stats()["live_streams"] == before["live_streams"] + 1
    with pytest.raises(envoy_pyext.StreamDestroyedError):
        h.get("x-a")
    s.free()
    cfg.destroy()
