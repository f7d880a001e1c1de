"""Asynchronous hooks against the real Envoy: coroutines on the runtime's event loop, threads
that resume the stream, buffering while Python works, destroy while pending."""

import asyncio
import hashlib
import json
import socket
import threading
import uuid

import httpx
import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, wait_for

FILTERS = {
    "sleep": ("filters.asyncf:AsyncSleep", "0.05"),
    "thread": ("filters.asyncf:ThreadWork", ""),
    "rewrite": ("filters.asyncf:AsyncRewrite", ""),
    "cancel": ("filters.asyncf:AsyncCancel", ""),
    "pending-body": ("filters.asyncf:PendingThenBody", "0.3"),
    "upper": ("filters.asyncf:StreamUpper", ""),
    "async-upper": ("filters.asyncf:AsyncStreamUpper", ""),
    "raises": ("filters.asyncf:AsyncRaises", ""),
    "raises-open": ("filters.asyncf:AsyncRaisesOpen", ""),
    "inline": ("filters.asyncf:AsyncNoSuspend", ""),
    "async-reply": ("filters.asyncf:AsyncLocalReply", ""),
    "slow-body": ("filters.asyncf:AsyncSlowBody", ""),
    "awaitable": ("filters.asyncf:AwaitableReturn", ""),
    "yield-wait": ("filters.asyncf:YieldThenWait", ""),
    "report": ("filters.asyncf:Report", ""),
}


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess(FILTERS, upstream.port) as env:
        yield env


def report(envoy, path="/"):
    status, _, body = envoy.request("report", path=path)
    assert status == 200
    return json.loads(body)


async def fire(url, n, http2, headers=None):
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(http1=not http2, http2=http2, limits=limits, timeout=60) as c:
        return await asyncio.gather(*(c.get(url, headers={"x-user": f"u{i}", **(headers or {})})
                                      for i in range(n)))


BARRIER = 100  # requests held until this many are pending at once (the pool has 128 threads)


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("listener,marker", [("sleep", "x-async"), ("thread", "x-thread")])
def test_200_concurrent_pending_requests(envoy, listener, marker, http2):
    report(envoy, "/reset-peak")
    url = f"http://127.0.0.1:{envoy.ports[listener]}/"
    # The first BARRIER requests wait in the filter until BARRIER of them are pending, so the
    # peak below is reached on any machine; the later ones pass the open barrier.
    barrier = {"x-barrier": f"{uuid.uuid4().hex}:{BARRIER}"}
    responses = asyncio.run(fire(url, 200, http2, barrier))
    assert [r.status_code for r in responses] == [200] * 200
    for i, r in enumerate(responses):
        seen = upstream_view(r.content)["h"]
        if listener == "sleep":
            assert seen["x-async"] == ["request"]
            assert r.headers["x-async"] == f"response:u{i}"
        else:
            assert seen["x-thread"] == [f"u{i}"]
    if http2:
        assert {r.http_version for r in responses} == {"HTTP/2"}
    stats = report(envoy)
    assert stats["pending_peak"] >= BARRIER, stats
    if listener == "thread":
        assert stats["threads"] > 1


def test_thread_can_answer_with_a_local_reply(envoy, upstream):
    before = len(upstream.received)
    status, _, body = envoy.request("thread", headers={"x-deny": "1"})
    assert (status, body) == (403, b"denied by a thread\n")
    assert len(upstream.received) == before


def test_async_rewrite_of_headers_and_buffered_bodies(envoy, upstream):
    body = b"hello there, hello again " * 1000
    status, headers, resp = envoy.request("rewrite", "POST", body=body,
                                          headers={"x-drop-me": "1"})
    assert status == 200
    got = upstream.received[-1]
    expected = body.replace(b"hello", b"HELLO, ASYNC WORLD")
    assert got["body"] == expected
    h = {}
    for k, v in got["headers"]:
        h.setdefault(k, []).append(v)
    assert h["x-rewritten"] == [hashlib.sha256(body).hexdigest()]
    assert h["x-order"] == ["1", "2"]          # writes reach Envoy in the order made
    assert "x-drop-me" not in h
    assert h["content-length"] == [str(len(expected))]
    assert resp.startswith(b"[{") and resp.endswith(b"}]")
    assert json.loads(resp[1:-1])["body_len"] == len(expected)
    hd = {k.lower(): v for k, v in headers}
    assert hd["x-response-rewritten"] == "yes"
    assert hd["content-length"] == str(len(resp))


def test_async_local_reply(envoy):
    status, headers, body = envoy.request("async-reply")
    assert (status, body) == (429, b"slow down\n")
    assert ("retry-after", "1") in [(k.lower(), v) for k, v in headers]


def test_async_that_never_suspends_runs_inline_on_the_worker(envoy):
    status, headers, body = envoy.request("inline")
    assert status == 200
    assert upstream_view(body)["h"]["x-inline"] == ["1"]
    assert dict((k.lower(), v) for k, v in headers)["x-inline"] == "False"
    assert report(envoy)["pending"] == 0


def test_async_errors_fail_closed_or_open(envoy):
    status, _, body = envoy.request("raises", headers={"x-raise-in": "decode_headers"})
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "RuntimeError: async boom in decode_headers" in envoy.log()
    # encode_headers was pending, so the response headers had not gone out: a clean 500
    status, _, body = envoy.request("raises", headers={"x-raise-in": "encode_headers"})
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "AsyncRaises.encode_headers raised; answering 500" in envoy.log()
    status, _, _ = envoy.request("raises-open", headers={"x-raise-in": "decode_headers"})
    assert status == 200
    assert "AsyncRaisesOpen.decode_headers raised; continuing (fail_open)" in envoy.log()
    assert envoy.alive()


def test_body_sent_while_pending_arrives_intact_and_in_order(envoy, upstream):
    body = bytes(range(256)) * 4096  # 1 MiB
    chunks = [body[i:i + 8192] for i in range(0, len(body), 8192)]
    status, headers, _ = envoy.request("pending-body", "POST", body=chunks, encode_chunked=True)
    assert status == 200
    assert upstream.received[-1]["body"] == body
    saw = dict((k.lower(), v) for k, v in headers)["x-filter-saw"]
    assert saw == f"{len(body)}:{hashlib.sha256(body).hexdigest()}"


def envoy_rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("listener", ["upper", "async-upper"])
def test_10mib_streaming_transform_with_bounded_memory(envoy, upstream, listener):
    body = (b"streaming body, chunk by chunk; " * 32768)[:10 << 20]
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    envoy.request(listener, "POST", body=[b"warm-up"], encode_chunked=True,
                  headers={"x-upstream-mode": "echo"})
    baseline = envoy_rss_kib(envoy.pid())
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], envoy_rss_kib(envoy.pid()))
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, _, resp = envoy.request(listener, "POST", body=chunks, encode_chunked=True,
                                        headers={"x-upstream-mode": "echo"})
    finally:
        done.set()
        sampler.join()
    assert status == 200
    assert upstream.received[-1]["body"] == body.upper()
    assert resp == body.upper()
    growth_mib = (peak[0] - baseline) / 1024
    # 20 MiB went through (10 up, 10 down); holding either body would add >= 10 MiB.
    assert growth_mib < 8, f"Envoy RSS grew {growth_mib:.1f} MiB"


def abort_while_pending(port: int, n: int) -> None:
    """n clients that send a request and hang up before the answer."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /abandon HTTP/1.1\r\nhost: x\r\nx-user: u%d\r\n\r\n" % i)
        socks.append(s)
    for s in socks:
        s.close()


def test_1000_clients_abort_while_pending(envoy):
    base = report(envoy)
    for _ in range(10):
        abort_while_pending(envoy.ports["cancel"], 100)
    expect = base["cancelled"] + 1000

    def settled():
        r = report(envoy)
        done = (r["cancelled"] >= expect and r["on_destroy"] >= base["on_destroy"] + 1000
                and r["pending"] == 0 and r["live_streams"] == 1 and r["live_filters"] == 1)
        return r if done else None

    r = wait_for(settled, "1000 cancellations")
    assert r["cancelled"] == expect
    assert r["destroyed_error"] >= base["destroyed_error"] + 1000
    assert envoy.alive()
    assert envoy.request("sleep")[0] == 200


def settled_after(envoy, base, cancelled):
    def check():
        r = report(envoy)
        ok = (r["cancelled"] >= base["cancelled"] + cancelled and r["pending"] == 0
              and r["live_streams"] == 1 and r["live_filters"] == 1)
        return r if ok else None
    return wait_for(check, f"{cancelled} cancellations")


def test_client_disconnects_mid_body_while_data_hook_pending(envoy, upstream):
    base = report(envoy)
    before = len(upstream.received)
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", envoy.ports["slow-body"]))
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
        s.sendall(b"x" * 30000)  # a third of the body, then the client is gone
        s.close()
    r = settled_after(envoy, base, 20)
    assert r["cancelled"] == base["cancelled"] + 20
    assert len(upstream.received) == before  # nothing half-done reached the upstream
    assert envoy.alive()


def test_http2_streams_reset_while_pending(envoy):
    base = report(envoy)
    url = f"http://127.0.0.1:{envoy.ports['cancel']}/"

    async def abandon():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=60) as c:
            tasks = [asyncio.create_task(c.get(url)) for _ in range(50)]
            done, _ = await asyncio.wait(tasks, timeout=0.5)
            assert not done  # all 50 are pending in the filter
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(abandon())
    r = settled_after(envoy, base, 50)
    assert r["cancelled"] == base["cancelled"] + 50
    assert envoy.alive()


def test_awaitable_return_and_async_on_log(envoy):
    status, _, body = envoy.request("awaitable", headers={"x-user": "zed"})
    assert status == 200
    assert upstream_view(body)["h"]["x-awaitable"] == ["1"]
    wait_for(lambda: "zed" in report(envoy).get("async_on_log", []), "async on_log")


def test_bare_yields_and_real_waits_keep_every_write_in_order(envoy):
    status, _, body = envoy.request("yield-wait")
    assert status == 200
    assert upstream_view(body)["h"]["x-steps"] == ["after-yield", "after-wait",
                                                   "after-second-yield"]
