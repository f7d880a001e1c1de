"""RUNNING + threads and the shadow, driven through the real hooks against the fake host:
writes made while pending reach Envoy only on the worker (on_scheduled), in order."""

import threading

import pytest

import envoy_pyext
from envoy_pyext import EnvoyPyextError, StreamDestroyedError, WrongThreadError
from envoy_pyext._native import _ABI

from . import filters
from tests.fakehost.driver import Config, Stream

STOP_ITERATION = _ABI["HDR_STOP_ITERATION"]


@pytest.fixture(scope="module")
def config():
    cfg = Config("tests.unit.filters:Running")
    yield cfg
    cfg.destroy()


def start(s):
    filters.captured.clear()
    assert s.request_headers(True) == STOP_ITERATION  # pending: only the headers stop
    return filters.captured[-1]


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out.pop("error")  # popped: out -> error -> traceback -> run() -> out is a cycle
    return out.get("value")


def test_thread_writes_are_replayed_in_order_on_the_worker(config):
    with Stream(config, headers={"x-a": "1", "x-gone": "g"}) as s:
        f = start(s)
        assert envoy_pyext.stats()["pending"] >= 1

        def work():
            h = f.request_headers
            assert h["x-a"] == "1"           # reads the copy made when the hook went async
            h["x-a"] = "2"
            h.add("x-b", "first")
            h.add("x-b", "second")
            del h["x-gone"]
            assert h.get_all("x-b") == ["first", "second"]
            f.callbacks.continue_request()

        in_thread(work)
        # nothing reached Envoy yet: only the scheduler was poked
        assert dict(s.headers()) == {b"x-a": b"1", b"x-gone": b"g"}
        assert s.commits() == [1] and s.continued() == 0
        s.scheduled(1)  # Envoy runs on_scheduled on the worker
        assert s.headers() == [(b"x-a", b"2"), (b"x-b", b"first"), (b"x-b", b"second")]
        assert s.continued() == 1


def test_thread_local_reply(config):
    with Stream(config) as s:
        f = start(s)
        in_thread(lambda: f.callbacks.send_local_reply(451, body=b"gone"))
        s.scheduled(1)
        assert s.reply() == (451, b"gone")
        assert s.continued() == 0


def test_continue_twice_and_wrong_side_are_errors(config):
    with Stream(config) as s:
        f = start(s)
        with pytest.raises(EnvoyPyextError, match="response is not waiting"):
            in_thread(f.callbacks.continue_response)
        in_thread(f.callbacks.continue_request)
        with pytest.raises(EnvoyPyextError, match="already continued"):
            in_thread(f.callbacks.continue_request)
        s.scheduled(1)
        assert s.continued() == 1


def test_destroy_while_pending_then_thread_gets_stream_destroyed(config):
    s = Stream(config)
    f = start(s)
    s.free()
    assert envoy_pyext.stats()["pending"] == 0
    with pytest.raises(StreamDestroyedError):
        in_thread(f.callbacks.continue_request)
    with pytest.raises(StreamDestroyedError):
        in_thread(lambda: f.request_headers.get("x-a"))


def test_other_thread_without_pending_hook_is_refused():
    cfg = Config("tests.unit.filters:Capture")
    with Stream(cfg, headers={"x-a": "1"}) as s:
        filters.captured.clear()
        s.request_headers(True)
        f = filters.captured[-1]
        with pytest.raises(WrongThreadError):
            in_thread(lambda: f.request_headers.get("x-a"))
        with pytest.raises(WrongThreadError):
            in_thread(f.callbacks.continue_request)
    cfg.destroy()


def test_stale_scheduled_event_is_ignored(config):
    with Stream(config, headers={"x-a": "1"}) as s:
        start(s)
        s.scheduled(1)  # no completion recorded: nothing happens
        assert s.continued() == 0 and s.reply()[0] == 0
        assert envoy_pyext.stats()["pending"] >= 1
