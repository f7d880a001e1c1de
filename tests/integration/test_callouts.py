"""http_call: calls through an Envoy cluster to a real second service, in the real Envoy."""

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, add_cluster, bootstrap, filter_entry, listener, wait_for

RELEASE = threading.Event()     # /hold answers once this is set (at the end of the module)


class _Side(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-side", "yes")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_chunked(self):
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _handle(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
        if self.path == "/echo":    # the body back in two chunks, then a trailer
            self.send_response(201)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            half = len(body) // 2
            for part in (body[:half], body[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nx-echo-len: %d\r\n\r\n" % len(body))
            return None
        if self.path.startswith("/status/"):
            return self._answer(int(self.path.rsplit("/", 1)[1]), b"nope")
        if self.path.startswith("/big/"):
            return self._answer(200, b"x" * int(self.path.rsplit("/", 1)[1]))
        if self.path == "/hold":
            RELEASE.wait(60)
            return self._answer(200, b"late")
        if self.path == "/reset":
            self.send_response(200)
            self.send_header("content-length", "1000")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        return self._answer(200, json.dumps({"path": self.path, "body": body.decode()}).encode())

    do_GET = do_POST = _handle


@pytest.fixture(scope="module")
def side():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Side)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    RELEASE.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def envoy(upstream, side):
    cfg = bootstrap([listener("call", [filter_entry("filters.callouts:Caller")]),
                     listener("thread-call", [filter_entry("filters.callouts:ThreadCaller")]),
                     listener("report", [filter_entry("filters.callouts:Report")])],
                    upstream.port)
    add_cluster(cfg, "side", side, trailers=True)  # (HTTP/1.1 trailers from the service)
    with EnvoyProcess(config=cfg) as env:
        yield env


def call(envoy, what, **kw):
    return envoy.request("call", headers={"x-call": what, **kw.pop("headers", {})}, **kw)


def report(envoy):
    status, _, body = envoy.request("report")
    assert status == 200
    return json.loads(body)


def settled(envoy, base):
    """The runtime's live counters are back to `base` (bounded poll: no event exists)."""
    def check():
        r = report(envoy)
        return r if all(r[k] == base[k] for k in ("live_streams", "pending", "live_callouts")) \
            else None
    return wait_for(check, f"live counters back to {base}")


def test_success_reaches_the_side_service(envoy):
    status, _, body = call(envoy, "ok")
    assert status == 200, body
    h = upstream_view(body)["h"]
    assert h["x-callout"] == ["200 /ok?q=1 ping yes"]
    # the Task waited only on the callout: it never left the Envoy worker
    assert h["x-loop"] == ["False"]


def test_call_made_on_the_loop_thread_hops_to_the_worker(envoy):
    status, _, body = call(envoy, "from-loop")
    assert status == 200, body
    assert upstream_view(body)["h"]["x-callout"] == ["200 /ok?from=loop"]


def test_call_made_on_a_thread_after_running_hops_to_the_worker(envoy):
    status, _, body = envoy.request("thread-call")
    assert status == 200, body
    assert upstream_view(body)["h"]["x-callout"] == ["200 /ok?t=1"]


def test_404_is_a_response_not_an_error(envoy):
    status, _, body = call(envoy, "404")
    assert status == 200
    assert upstream_view(body)["h"]["x-callout"] == ["404"]


def test_large_body(envoy):
    status, _, body = call(envoy, "big")
    assert status == 200
    assert upstream_view(body)["h"]["x-callout"] == ["300000"]


def test_response_over_the_limit(envoy):
    assert call(envoy, "too-big")[::2] == (502, b"too large\n")


def test_cluster_not_found(envoy):
    status, _, body = call(envoy, "nocluster")
    assert status == 503 and b"no-such-cluster" in body


@pytest.mark.parametrize("what", ["timeout", "asyncio-timeout"])
def test_timeouts_answer_504(envoy, what):
    base = report(envoy)
    assert call(envoy, what)[::2] == (504, f"{what}\n".encode())
    settled(envoy, base)


def test_upstream_reset_mid_response(envoy):
    status, _, body = call(envoy, "reset")
    assert status == 502 and body.startswith(b"reset: "), body


def test_two_concurrent_callouts_in_one_stream(envoy):
    status, _, body = call(envoy, "two")
    assert status == 200
    assert upstream_view(body)["h"]["x-callout"] == ["/ok?n=1,/ok?n=2"]


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_50_concurrent_callouts_from_50_streams(envoy, http2):
    async def main():
        url = f"http://127.0.0.1:{envoy.ports['call']}/"
        async with httpx.AsyncClient(http2=http2, http1=not http2,
                                     limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*[client.get(url, headers={"x-call": "ok"})
                                          for _ in range(50)])

    for r in asyncio.run(main()):
        assert r.status_code == 200
        assert upstream_view(r.content)["h"]["x-callout"] == ["200 /ok?q=1 ping yes"]


def test_streamed_call_with_request_and_response_bodies(envoy):
    base = report(envoy)
    status, _, body = call(envoy, "stream")
    assert status == 200, body
    assert upstream_view(body)["h"]["x-stream"] == ["201 part1-part2 [('x-echo-len', '11')]"]
    settled(envoy, base)


def test_leaving_a_streamed_call_early_resets_it(envoy):
    base = report(envoy)
    status, _, body = call(envoy, "stream-early")
    assert status == 200, body
    assert upstream_view(body)["h"]["x-stream"] == ["left early"]
    settled(envoy, base)


def test_client_disconnect_while_callout_pending_leaks_nothing(envoy):
    base = report(envoy)
    n = 1000
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", envoy.ports["call"]))
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-call: hold\r\n\r\n")
        s.close()
    r = settled(envoy, base)
    assert r["cancelled"] >= base["cancelled"] + 1   # the coroutines saw CancelledError
    assert envoy.alive()
    assert call(envoy, "ok")[0] == 200
