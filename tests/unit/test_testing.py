"""envoy_pyext.testing.FilterTester's own behaviour (the runtime's semantics it shares with
Envoy are checked by the semantics table, tests/unit/test_semantics_tester.py)."""

from __future__ import annotations

import logging

import pytest

from envoy_pyext import (Buffer, Callbacks, CalloutResetError, FilterConfigError, HeaderMap,
                         HttpResponse)
from envoy_pyext.testing import FilterTester, Response, StuckStreamError, echo

from . import testing_filters as tf


def test_views_are_the_runtime_classes_with_its_rules():
    t = FilterTester(tf.Views)
    r = t.request("POST", "/", body=b"hello")
    f = r.filter
    assert HeaderMap in f.types[0] and Callbacks in f.types[1] and Buffer in f.types[2]
    e = f.errors
    assert e["bad_name"].startswith("ValueError: invalid header name 'bad name'")
    assert e["bad_value"].startswith("ValueError: invalid header value")
    assert e["empty"].startswith("ValueError: empty value for header 'x-empty'")
    assert e["bool"] == "TypeError: header value must be str or bytes, not bool"
    assert e["body_in_headers"].startswith(
        "EnvoyPyextError: the request body has not arrived yet in decode_headers")
    assert e["response_map"].startswith("EnvoyPyextError: Envoy refused to change response "
                                        "headers")
    assert e["trailers_map"].startswith("EnvoyPyextError: Envoy refused to change request "
                                        "trailers")
    assert f.raw == b"\xff\xfe"
    assert r.upstream.headers.get("x-int") == "42"
    assert r.upstream.headers["x-copy"].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert f.view == (True, b"hello")
    assert f.write_error == "TypeError"
    # the stream is gone: a view kept past it raises
    from envoy_pyext import StreamDestroyedError
    with pytest.raises(StreamDestroyedError):
        f.kept_headers.get("x-int")


def test_request_defaults_like_envoy():
    r = FilterTester(tf.Views).request("POST", "/p?q=1", headers={"Host": "h.example",
                                                                   "X-Up": "A"}, body=b"abc")
    assert (r.upstream.method, r.upstream.path, r.upstream.authority) == ("POST", "/p?q=1",
                                                                          "h.example")
    assert r.upstream.headers["content-length"] == "3"
    assert r.upstream.headers["x-forwarded-proto"] == "http"
    assert "x-request-id" in r.upstream.headers
    assert r.upstream.headers["x-up"] == "A"


def test_chunks_end_with_an_empty_chunk_like_http1_unless_told_otherwise():
    t = FilterTester(tf.StreamingCounter)
    r = t.request("POST", "/", chunks=[b"ab", b"cd"])
    assert r.filter.chunks == [(b"ab", False), (b"cd", False), (b"", True)]
    assert "content-length" not in r.upstream.headers and r.upstream.body == b"abcd"
    r = t.request("POST", "/", chunks=[b"ab", b"cd"], empty_end_chunk=False)
    assert r.filter.chunks == [(b"ab", False), (b"cd", True)]
    r = t.request("POST", "/", chunks=[b"ab"], trailers={"x-t": "1"})
    assert r.filter.chunks == [(b"ab", False)]
    assert r.upstream.trailers["x-t"] == "1"


def test_upstream_responses():
    t = FilterTester(tf.StreamingCounter)
    assert t.request(response=204).client.status == 204
    r = t.request("POST", body=b"x", response=echo)
    assert (r.client.status, r.client.body) == (200, b"x")
    r = t.request(response=Response(201, {"x-a": "1"}, chunks=[b"a", b"b"],
                                    trailers={"x-t": "2"}))
    assert (r.client.status, r.client.body, r.client.headers["x-a"]) == (201, b"ab", "1")
    assert r.client.trailers["x-t"] == "2" and "content-length" not in r.client.headers
    r = t.request(response=lambda req: (200, {"x-path": req.path}, b"hi"))
    assert r.client.headers["x-path"] == "/" and r.client.headers["content-length"] == "2"


def test_logs_carry_the_filters_file_and_line(caplog):
    caplog.set_level(logging.INFO)
    r = FilterTester(tf.Logs).request()
    assert [(x.level, x.message) for x in r.logs] == [("info", "hello from the filter"),
                                                      ("warning", "careful")]
    assert r.logs[0].file == tf.__file__ and r.logs[0].line > 0
    assert any(rec.getMessage() == "hello from the filter" and rec.pathname == tf.__file__
               for rec in caplog.records)
    assert any(rec.getMessage() == "via logging" for rec in caplog.records)


def test_errors_are_reported_with_user_frames():
    from tests.semantics.filters import RaiseRequest
    r = FilterTester(RaiseRequest).request()
    assert r.client.status == 500 and r.local_reply.by == "error"
    assert isinstance(r.error, ValueError)
    (err,) = r.errors
    assert err.hook == "decode_headers" and err.action == "answering 500"
    assert "semantics/filters.py" in err.traceback and "_teststream.py" not in err.traceback
    assert "envoy-pyext runtime frame" in err.traceback
    assert "errors=[decode_headers: ValueError: boom]" in repr(r)


def test_running_continued_by_the_hook_itself():
    r = FilterTester(tf.EarlyContinue).request()
    assert r.client.status == 200 and r.upstream is not None


def failure(call) -> tuple[type, str, list[str]]:
    """The exception `call` raises, as (type, message, notes); the exception itself is not kept
    (its traceback would keep the stream's frames, and the Filter, alive until a GC pass)."""
    try:
        call()
    except Exception as e:
        return type(e), str(e), list(getattr(e, "__notes__", []))
    raise AssertionError("no exception")


def test_running_never_continued_fails_the_test():
    t = FilterTester(tf.NeverContinues, timeout=0.2)
    kind, message, _ = failure(t.request)
    assert kind is StuckStreamError
    assert "returned Status.RUNNING and nothing called continue_request()" in message


def test_coroutine_that_never_finishes_fails_the_test():
    kind, message, _ = failure(FilterTester(tf.NeverFinishes, timeout=0.2).request)
    assert kind is StuckStreamError and "coroutine did not finish" in message


def test_a_hooks_task_is_named_after_its_coroutine_as_in_envoy():
    r = FilterTester(tf.NamedTask).request()
    assert r.upstream.headers["x-task"] == "NamedTask.decode_headers"


def test_continue_twice_is_refused():
    r = FilterTester(tf.ContinueTwice).request()
    assert r.client.status == 200
    # The second call races with the stream going on: refused either way.
    assert r.filter.second.startswith("EnvoyPyextError: the request ")


def test_views_from_other_threads():
    t = FilterTester(tf.WrongThread)
    box = {}

    def upstream(req):
        f = box["f"]
        f.go.set()
        f.done.wait(10)
        f.done.clear()
        return 200

    # The filter object is only reachable from the result; hand it over through the upstream.
    orig = t._new_filter

    def capture(st):
        box["f"] = orig(st)
        return box["f"]

    t._new_filter = capture
    r = t.request(response=upstream)
    r.filter.go.set()
    r.filter.thread.join(10)
    assert r.filter.results == ["WrongThreadError", "StreamDestroyedError"]
    del t._new_filter  # (the tester and `capture` refer to each other)
    box.clear()


def test_lifecycle_order_and_destroyed_views():
    r = FilterTester(tf.Lifecycle, config="c").request("GET", "/x")
    assert r.filter.events == ["init", "config=c", "decode_headers", "encode_headers", "on_log",
                               "on_log sees /x", "on_destroy", "StreamDestroyedError"]


def test_http_call_fakes():
    t = FilterTester(tf.Callouts)
    t.callouts.add("svc", "/a", response=(200, {"x-from": "fake"}, b"A"))
    t.callouts.add("svc", "/b", response=lambda req: (200, {}, b"B"))
    t.callouts.add("slow", response=200, delay=5)
    t.callouts.add("down", error=CalloutResetError("reset", "connection_failure"))
    t.callouts.add("big", response=(200, {}, b"x" * 11))
    t.callouts.add("obj", response=HttpResponse(201, [("x-from", "obj")], b"O"))

    def result(**h):
        return t.request(headers=h).upstream.headers["x-result"]

    assert result() == "200 A fake"
    call = t.callouts.calls[-1]
    assert (call.cluster, call.method, call.path, call.body) == ("svc", "POST", "/a", b"ping")
    assert call.headers["host"] == "svc" and call.headers["content-length"] == "4"
    assert call.headers["x-k"] == "v" and call.timeout == 0.2
    assert result(**{"x-call-path": "/nope"}) == "404  -"
    assert result(**{"x-cluster": "nowhere"}) == "ClusterNotFoundError"
    assert result(**{"x-cluster": "slow"}) == "TimeoutError"
    assert result(**{"x-cluster": "down"}) == "CalloutResetError"
    assert result(**{"x-cluster": "big"}) == "ResponseTooLargeError"
    assert result(**{"x-cluster": "obj"}) == "201 O obj"
    assert result(**{"x-mode": "gather"}) == "A,B"


def test_buffer_limit_and_worker_index():
    r = FilterTester(tf.BufferLimit, worker_index=3).request()
    h = r.upstream.headers
    assert (h["x-limit"], h["x-limit-after"], h["x-worker"]) == ("1048576", "8388608", "3")


def test_config_as_json_and_by_name():
    t = FilterTester("tests.unit.testing_filters:JsonConfig", {"a": [1, 2]})
    assert t.config == {"a": [1, 2]}
    assert t.request().upstream.headers["x-config"] == '{"a": [1, 2]}'


def test_parse_config_rejection_is_a_config_error():
    with pytest.raises(FilterConfigError, match="RejectsConfig: parse_config rejected the "
                                                "filter_config: ValueError: no good"):
        FilterTester(tf.RejectsConfig)


def test_not_a_filter_is_refused():
    with pytest.raises(FilterConfigError, match="is not a subclass of envoy_pyext.Filter"):
        FilterTester("tests.unit.testing_filters:log")


def test_init_error_is_answered_500_as_in_envoy():
    """As the runtime (native/config.pxi, dispatch.pxi): the request headers answer it, the
    error is logged and counted as the request headers hook's; the tester does not raise."""
    r = FilterTester(tf.InitRaises).request("POST", body=b"data")
    assert (r.status, r.client.body) == (500, b"Internal Server Error\n")
    assert r.upstream is None
    [error] = r.errors
    assert (error.hook, error.action) == ("decode_headers", "answering 500")
    assert type(error.exception) is RuntimeError and str(error.exception) == "init boom"
