"""Fault matrix: what the other suites do not cover (docs/RELIABILITY.md, "Fault matrix", maps
every fault x phase x protocol to its test). Against one real Envoy, over HTTP/1.1 and HTTP/2:

  - client disconnect / RST_STREAM while a hook is pending (after the headers, mid request
    body, mid response body), upstream reset mid-response, route timeout and stream idle
    timeout firing while a hook is pending, for coroutines and for threads (Status.RUNNING);
  - exceptions in every hook, sync and async (raised after a real await);
  - threads that go on using their Filter after the stream ended;
  - exceptions raised after an await by hooks nobody waits for any more.

After each case: Envoy alive, the next request fine, stats() back to baseline. Nothing here
synchronises by sleeping: held hooks wait on gates (filters/faults.py) that the test opens
only after the client saw the outcome; counters are polled with a bound (harness.wait_for).
Python's cyclic GC is off in this Envoy (filters/faults.py), so every Filter must be freed by
reference counting for live_filters to come back.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass

import pytest

from .harness import EnvoyProcess, Upstream, wait_for
from .test_hangs import (H1Conn, H2Conn, RawUpstream, Req, Result, build_config, exchange,
                         h1_request_head)

PROTOS = ["h1", "h2"]
F = "filters.faults:"
ERR = "dynamicmodulescustom.envoy_pyext_errors."


def _with_route_timeout(config: dict, name: str, timeout: str) -> None:
    for lst in config["static_resources"]["listeners"]:
        if lst["name"] == name:
            hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
            hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["timeout"] = timeout


LISTENERS = {
    "control": (F + "FaultControl", "", "upstream", None),
    "hold": (F + "Hold", "", "upstream", None),
    "hold-raw": (F + "Hold", "", "raw", None),
    "idle": (F + "Hold", "", "raw", {"stream_idle_timeout": "1s"}),
    "route-timeout": (F + "Hold", "", "raw", None),
    "route-timeout-1.5s": (F + "Hold", "", "raw", None),
    "async-raising": (F + "AsyncRaising", "", "upstream", None),
    "sync-raising": ("filters.probe:Raising", "", "upstream", None),
    "raise-after-cancel": (F + "RaiseAfterCancel", "", "upstream", None),
    "plain": (None, "", "upstream", None),
    "observe": (F + "Observe", "", "upstream", None),
}


@pytest.fixture(scope="module")
def raw():
    with RawUpstream() as r:
        yield r


@pytest.fixture(scope="module")
def envoy(raw):
    with Upstream() as up:
        config = build_config(LISTENERS, {"upstream": up.port, "raw": raw.port})
        _with_route_timeout(config, "route-timeout", "1s")
        _with_route_timeout(config, "route-timeout-1.5s", "1.5s")
        # The Hammer's listener: Releaser first, so that its on_destroy runs while the
        # Hammer's stream is complete but not destroyed yet.
        hammer = build_config({"hammer": (F + "Releaser", "", "upstream", None)},
                              {"upstream": up.port})["static_resources"]["listeners"][0]
        chain = hammer["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
        second = json.loads(json.dumps(chain[0]))
        second["typed_config"]["filter_name"] = F + "Hammer"
        chain.insert(1, second)
        config["static_resources"]["listeners"].append(hammer)
        with EnvoyProcess(config=config) as env:
            yield env


def xid() -> str:
    return uuid.uuid4().hex


def control(envoy, path: str = "/seen", key: str = "") -> dict:
    res = exchange("h1", envoy.ports["control"], Req(path=path, headers=[("x-id", key)]))
    assert res.status == 200, res.describe()
    return json.loads(res.body)


def stats(envoy) -> dict:
    return control(envoy)["stats"]


def seen(envoy, key: str) -> list:
    return control(envoy, key=key)["seen"]


def assert_baseline(envoy, base: dict) -> dict:
    """live_streams, live_filters and pending back to where they were (the control request
    counts once in both readings), without any gc.collect() in Envoy."""
    last: dict = {}

    def check():
        last.update(stats(envoy))
        return all(last[k] <= base[k] for k in ("live_streams", "live_filters", "pending"))

    try:
        wait_for(check, "stats back to baseline")
    except AssertionError:
        raise AssertionError(f"not back to baseline: before {base}, now {last}") from None
    return last


def assert_healthy(envoy, proto: str) -> None:
    assert envoy.alive()
    res = exchange(proto, envoy.ports["plain"], Req())
    assert res.status == 200 and res.complete, res.describe()
    res = exchange(proto, envoy.ports["hold"], Req(headers=[("x-id", xid())]))
    assert res.status == 200 and res.complete, res.describe()


def error_count(envoy, cls: str) -> int:
    return envoy.stat(ERR + cls) or 0


# ---- threads that go on after their stream ended -------------------------------------------

CALLS = ("continue_request", "continue_response", "send_local_reply", "request_headers",
         "request_body", "response_body", "callbacks", "headers.get", "headers.set",
         "body.bytes", "body.append")
ROUNDS = 50


@pytest.mark.parametrize("proto", PROTOS)
def test_thread_calls_after_the_stream_ended_raise_stream_destroyed(envoy, proto):
    """The thread calls everything ROUNDS times between stream complete and destroy, and as
    many times after destroy: every call raises StreamDestroyedError (never
    WrongThreadError), and the Filter is freed by reference counting once the thread ends."""
    base = stats(envoy)
    key = xid()
    res = exchange(proto, envoy.ports["hammer"],
                   Req(headers=[("x-id", key), ("x-rounds", str(ROUNDS))]))
    assert res.status == 200 and res.complete, res.describe()
    control(envoy, "/open", key + "/destroyed")
    out = control(envoy, "/join", key)
    result = out["result"]
    assert result is not None and "error" not in result, result
    assert out["filter_alive"] is False     # no gc.collect() in that Envoy: refcounting
    assert_baseline(envoy, base)
    expected = {f"{name}:StreamDestroyedError": ROUNDS for name in CALLS}
    assert result["window"] == expected
    assert result["after"] == expected


# ---- errors raised after an await are counted --------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("hook", ["on_log", "on_destroy"])
def test_async_lifecycle_errors_after_an_await_are_counted(envoy, hook, proto):
    base, before = stats(envoy), error_count(envoy, "filters.faults.AsyncRaising")
    n = 5
    for _ in range(n):
        res = exchange(proto, envoy.ports["async-raising"], Req(headers=[("x-raise-in", hook)]))
        assert res.status == 200, res.describe()
    wait_for(lambda: error_count(envoy, "filters.faults.AsyncRaising") >= before + n,
             f"{n} errors counted")
    assert error_count(envoy, "filters.faults.AsyncRaising") == before + n
    assert stats(envoy)["errors"] == base["errors"] + n
    assert_baseline(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
def test_error_raised_by_an_abandoned_hook_is_counted(envoy, proto):
    """The client goes away while decode_headers waits; the hook turns its CancelledError
    into a RuntimeError: logged and counted, though nobody waits for the hook any more."""
    base, before = stats(envoy), error_count(envoy, "filters.faults.RaiseAfterCancel")
    keys = [xid() for _ in range(3)]
    for key in keys:
        _abandon(envoy, proto, "raise-after-cancel", key)
    for key in keys:
        wait_for(lambda key=key: "cancelled" in seen(envoy, key), "the hook cancelled")
    wait_for(lambda: error_count(envoy, "filters.faults.RaiseAfterCancel") >= before + 3,
             "3 errors counted")
    assert error_count(envoy, "filters.faults.RaiseAfterCancel") == before + 3
    assert stats(envoy)["errors"] == base["errors"] + 3
    assert "RaiseAfterCancel.decode_headers raised after its stream ended" in envoy.log()
    assert_baseline(envoy, base)
    for key in keys:
        control(envoy, "/open", key)


def _abandon(envoy, proto: str, listener: str, key: str, headers: list | None = None) -> None:
    """Sends a GET whose decode_headers holds, waits until it is held, then goes away (h1:
    closes the connection; h2: RST_STREAM, the connection stays)."""
    hdrs = [("x-id", key), *(headers or [])]
    if proto == "h1":
        with H1Conn(envoy.ports[listener]) as c:
            c.send(h1_request_head("GET", "/", hdrs))
            wait_for(lambda: seen(envoy, key), "the hook is held")
        return
    with H2Conn(envoy.ports[listener]) as c:
        sid = c.start("GET", "/", hdrs, end_stream=True)
        wait_for(lambda: seen(envoy, key), "the hook is held")
        c.conn.reset_stream(sid)
        c._flush()
        r = Result()
        assert r.status is None


# ---- the raw upstream's scripts ----------------------------------------------------------------

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n"
PART = b"0123456789"
_stalls: dict = {}


def _stall_event(req) -> threading.Event:
    return _stalls.setdefault(req.header("x-id"), threading.Event())


def _script_stall_headers(req):       # the response head, then nothing until released
    req.send(HEAD)
    _stall_event(req).wait(30)


def _script_stall_body(req):          # the head and 10 of 100 bytes, then nothing
    req.send(HEAD + PART)
    _stall_event(req).wait(30)


def _script_reset_headers(req):       # the head, then the connection closes (premature)
    req.send(HEAD)


def _script_reset_body(req):          # the head and 10 of 100 bytes, then closes
    req.send(HEAD + PART)


def _script_ok(req):
    req.read_body()
    req.send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


SCRIPTS = {"stall-headers": _script_stall_headers, "stall-body": _script_stall_body,
           "reset-headers": _script_reset_headers, "reset-body": _script_reset_body,
           "ok": _script_ok}


@pytest.fixture(scope="module", autouse=True)
def scripts(raw):
    raw.scripts.update(SCRIPTS)
    yield
    for ev in _stalls.values():
        ev.set()


# ---- the matrix ------------------------------------------------------------------------------

REPLIES = {b"stream timeout", b"upstream request timeout",
           b"upstream connect error or disconnect/reset before headers. reset reason: "
           b"protocol error"}


@dataclass(frozen=True)
class Fault:
    """One row: `fault` happens while `hook` is held (by a coroutine or a thread)."""
    fault: str      # disconnect | upstream-reset | route-timeout | idle-timeout
    hook: str       # the held hook
    script: str     # what the raw upstream does ("" : the ordinary upstream)
    listener: str
    expect: str     # what the client sees: gone (it left) | reset | a status Envoy answers


FAULTS = [
    Fault("disconnect", "decode_headers", "", "hold", "gone"),
    Fault("disconnect", "decode_data", "", "hold", "gone"),
    Fault("disconnect", "encode_data", "stall-body", "hold-raw", "gone"),
    # While encode_headers holds the response head nothing went out yet: Envoy answers.
    Fault("upstream-reset", "encode_headers", "reset-headers", "hold-raw", "502"),
    Fault("upstream-reset", "encode_data", "reset-body", "hold-raw", "reset"),
    Fault("route-timeout", "encode_headers", "stall-headers", "route-timeout", "504"),
    Fault("route-timeout", "encode_data", "stall-body", "route-timeout", "reset"),
    # The stream idle timeout: 408 while the request is incomplete, 504 once it is complete.
    Fault("idle-timeout", "decode_headers", "ok", "idle", "504"),
    Fault("idle-timeout", "decode_data", "ok", "idle", "408"),
    Fault("idle-timeout", "encode_headers", "stall-headers", "idle", "504"),
    Fault("idle-timeout", "encode_data", "stall-body", "idle", "reset"),
]
# Already covered elsewhere (docs/RELIABILITY.md's table): a coroutine held in decode_headers
# when an HTTP/1.1 client disconnects or an HTTP/2 client resets (test_async.py), and one held
# in decode_data when an HTTP/1.1 client disconnects mid-body (test_async.py).
COVERED = {("disconnect", "decode_headers", "async", "h1"), ("disconnect", "decode_headers",
                                                             "async", "h2"),
           ("disconnect", "decode_data", "async", "h1")}
CASES = [pytest.param(f, mode, proto, id=f"{f.fault}-{f.hook}-{mode}-{proto}")
         for f in FAULTS for mode in ("async", "thread") for proto in PROTOS
         if (f.fault, f.hook, mode, proto) not in COVERED]


def _run_fault(envoy, f: Fault, mode: str, proto: str, key: str) -> Result:
    """Drives the request up to the held hook, lets the fault happen, returns what the client
    saw (for a disconnect: nothing, the client is gone)."""
    headers = [("x-id", key), ("x-hold-in", f.hook), ("x-mode", mode), ("x-script", f.script)]
    port = envoy.ports[f.listener]
    body = f.hook == "decode_data"
    held = lambda: f"held:{f.hook}" in seen(envoy, key)  # noqa: E731
    if proto == "h1":
        with H1Conn(port) as c:
            extra = [("content-length", "1000")] if body else []
            c.send(h1_request_head("POST" if body else "GET", "/", headers + extra))
            if body:
                c.send(b"x" * 100)
            res = Result()
            if f.fault == "disconnect":
                if f.hook == "encode_data":
                    assert c.read_head(res) and res.status == 200
                wait_for(held, f"{f.hook} held")
                return res
            return c.read_response(res)
    with H2Conn(port) as c:
        sid = c.start("POST" if body else "GET", "/", headers, end_stream=not body)
        if body:
            c.send_data(sid, b"x" * 100)
        if f.fault == "disconnect":
            if f.hook == "encode_data":
                assert c.wait_final_head(sid).status == 200
            wait_for(held, f"{f.hook} held")
            c.conn.reset_stream(sid)
            c._flush()
            return c.results[sid]
        return c.response(sid)


@pytest.mark.parametrize("f,mode,proto", CASES)
def test_fault_while_a_hook_is_pending(envoy, f, mode, proto):
    base = stats(envoy)
    key = xid()
    try:
        res = _run_fault(envoy, f, mode, proto, key)
        if f.expect.isdigit():
            assert res.status == int(f.expect) and res.complete, res.describe()
            assert res.body in REPLIES, res.describe()
        elif f.expect == "reset":
            assert res.reset, res.describe()
        # the held hook was abandoned: the coroutine saw CancelledError at once; the thread,
        # once the test lets it go on, gets StreamDestroyedError from continue_*()
        assert f"held:{f.hook}" in seen(envoy, key)
        if mode == "async":
            wait_for(lambda: "cancelled" in seen(envoy, key), "the coroutine cancelled")
        control(envoy, "/open", key)
        if mode == "thread":
            wait_for(lambda: "destroyed" in seen(envoy, key), "the thread's continue refused")
        assert "released" not in seen(envoy, key)
    finally:
        control(envoy, "/open", key)
        _stalls.setdefault(key, threading.Event()).set()
    assert_baseline(envoy, base)
    assert_healthy(envoy, proto)


@pytest.mark.parametrize("hook,proto", [("decode_headers", "h2"), ("decode_data", "h1")])
def test_route_timeout_does_not_run_while_a_request_hook_is_pending(envoy, hook, proto):
    """Envoy's router starts the route timeout (1.5 s here) when the whole request has passed
    the filters: a request hook that takes 2.5 s is not timed out. (The upstream answers at
    once; the 1.5 s only have to cover that answer, however loaded the machine.)"""
    base = stats(envoy)
    key = xid()
    body = hook == "decode_data"
    res = exchange(proto, envoy.ports["route-timeout-1.5s"],
                   Req(method="POST" if body else "GET", chunks=[b"abc"] if body else None,
                       headers=[("x-id", key), ("x-hold-in", hook), ("x-hold-for", "2.5"),
                                ("x-script", "ok")]))
    assert (res.status, res.body) == (200, b"ok"), res.describe()
    assert seen(envoy, key) == [f"held:{hook}", "released"]
    assert_baseline(envoy, base)


# ---- exceptions in every hook, sync and async ---------------------------------------------------

HOOKS = ("decode_headers", "decode_data", "decode_trailers", "encode_headers", "encode_data",
         "encode_trailers", "on_log", "on_destroy")
LISTENER_OF = {"sync": ("sync-raising", "filters.probe.Raising"),
               "async": ("async-raising", "filters.faults.AsyncRaising")}
# test_errors.py has every sync hook over HTTP/1.1, test_async.py async decode_headers and
# encode_headers over HTTP/1.1: the rest is here.
RAISE_CASES = [pytest.param(hook, mode, proto, id=f"{hook}-{mode}-{proto}")
               for hook in HOOKS for mode in ("sync", "async") for proto in PROTOS
               if not (proto == "h1" and (mode == "sync" or hook in ("decode_headers",
                                                                      "encode_headers")))]


@pytest.mark.parametrize("hook,mode,proto", RAISE_CASES)
def test_exception_in_every_hook(envoy, hook, mode, proto):
    """A request that reaches every hook (a body with trailers both ways); the hook named by
    x-raise-in raises. Request hooks and encode_headers: a 500; encode_data/encode_trailers:
    the response head went out, the stream is reset (async: a 500 when the head was still
    held, which depends on when the body arrived); on_log/on_destroy: the response is
    unchanged. Always logged with the traceback and counted exactly once."""
    listener, cls = LISTENER_OF[mode]
    base, before = stats(envoy), error_count(envoy, cls)
    res = exchange(proto, envoy.ports[listener],
                   Req(method="POST", chunks=[b"some body"], trailers=[("x-req-trailer", "t")],
                       headers=[("x-raise-in", hook),
                                ("x-upstream-trailer", "x-resp-trailer=r")]))
    if hook.startswith("decode") or hook == "encode_headers":
        assert (res.status, res.body) == (500, b"Internal Server Error\n"), res.describe()
    elif hook.startswith("encode") and mode == "async" and res.status == 500:
        # The body and trailers arrived while the async encode_headers was pending: the
        # response head was still held when the later hook raised, so a clean 500.
        assert res.body == b"Internal Server Error\n" and res.complete, res.describe()
    elif hook.startswith("encode"):
        assert res.reset and res.header("x-raising-saw-response") == "1", res.describe()
    else:
        assert res.status == 200 and res.complete, res.describe()
    wait_for(lambda: error_count(envoy, cls) >= before + 1, "the error counted")
    assert error_count(envoy, cls) == before + 1
    assert f"{cls.rsplit('.', 1)[1]}.{hook} raised" in envoy.log()
    assert f"boom in {hook}" in envoy.log()
    assert_baseline(envoy, base)
    assert_healthy(envoy, proto)


# ---- behaviours users must know (docs/RELIABILITY.md, "Behaviours to know") -----------------

@pytest.mark.parametrize("request_head,status", [
    (b"GET / HTTP/1.1\r\nhost: envoy\r\nx-big: " + b"b" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nhost: envoy\r\nbad header: 1\r\n\r\n", 400),
], ids=["431", "400"])
def test_encode_headers_runs_for_envoys_own_replies_without_decode_headers(envoy, request_head,
                                                                           status):
    before = len(seen(envoy, "no-decode-headers"))
    with H1Conn(envoy.ports["observe"]) as c:
        c.send(request_head)
        res = c.read_response()
    assert res.status == status and res.complete, res.describe()
    assert seen(envoy, "no-decode-headers")[before:] == [["encode_headers", str(status)]]


@pytest.mark.parametrize("proto,chunked", [("h1", True), ("h1", False), ("h2", True)],
                         ids=["h1-chunked", "h1-content-length", "h2"])
def test_how_a_streamed_body_ends(envoy, proto, chunked):
    """Over HTTP/1.1 (chunked or with a content-length) Envoy's codec ends the body with one
    more data-hook call: an empty chunk with end_stream=True. Over HTTP/2 the DATA frame that
    carries END_STREAM is the last call (an empty one only if the client sent it empty)."""
    key = xid()
    res = exchange(proto, envoy.ports["observe"],
                   Req(method="POST", chunks=[b"abc", b"defg"], chunked=chunked,
                       headers=[("x-id", key)]))
    assert res.status == 200, res.describe()
    calls = [c for c in seen(envoy, key) if c[0] == "decode_data"]
    assert sum(c[1] for c in calls) == 7 and all(not c[2] for c in calls[:-1]), calls
    assert calls[-1] == (["decode_data", 4, True] if proto == "h2" else ["decode_data", 0, True])
