"""Stream hangs and data-integrity regressions, against the real Envoy over HTTP/1.1 and HTTP/2.

Every exchange is bounded: a stream that does not end within TIMEOUT seconds is reported as a
hang (a test failure), never left to block the suite. The clients here speak the protocols at
the socket level (raw HTTP/1.1, and HTTP/2 through the `h2` state machine) so that a test can
stop half-way through a request, wait for the other side, and tell a reset from a response.
test_matrix.py uses them too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import httpx
import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, Upstream, bootstrap, filter_entry, listener, wait_for

TIMEOUT = 10.0  # seconds a stream may take before it counts as hung (generous on purpose)


class Hang(AssertionError):
    """No progress within the bounded timeout."""


# ---- results --------------------------------------------------------------------------------

@dataclass
class Result:
    status: int | None = None              # None: no final response head arrived
    headers: dict = field(default_factory=dict)   # lower-case name -> [values]
    body: bytes = b""
    trailers: dict = field(default_factory=dict)
    complete: bool = False                 # False: reset / closed before the response ended
    interim: list = field(default_factory=list)   # 1xx statuses seen
    ended: bool = False                    # HTTP/2: the stream ended (END_STREAM or RST)

    def header(self, name, default=None):
        v = self.headers.get(name)
        return v[0] if v else default

    @property
    def reset(self) -> bool:
        return not self.complete

    def describe(self) -> str:
        return (f"status={self.status} complete={self.complete} interim={self.interim} "
                f"body={self.body[:200]!r}")


def _add(d: dict, k: str, v: str) -> None:
    d.setdefault(k.lower(), []).append(v)


# ---- raw HTTP/1.1 client ----------------------------------------------------------------------

class H1Conn:
    """One HTTP/1.1 connection driven by hand. Reads raise Hang after `timeout` seconds
    without progress."""

    def __init__(self, port: int, timeout: float = TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the peer gave up on the request; the response (or reset) tells the rest

    def _more(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Hang(f"no data from Envoy within {self.timeout} s") from None
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._more():
                return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._more():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, res: Result) -> bool:
        """Reads one response head into res (status, headers). False on EOF."""
        line = self._line()
        if line is None or not line.startswith(b"HTTP/1."):
            return False
        status = int(line.split()[1])
        headers: dict = {}
        while True:
            h = self._line()
            if h is None:
                return False
            if not h:
                break
            k, _, v = h.decode("latin-1").partition(":")
            _add(headers, k.strip(), v.strip())
        if 100 <= status < 200:
            res.interim.append(status)
        else:
            res.status, res.headers = status, headers
        return True

    def read_interim_or_final(self, res: Result) -> bool:
        """Reads the next head (1xx or final). False on EOF."""
        return self.read_head(res)

    def read_response(self, res: Result | None = None, method: str = "GET") -> Result:
        res = res or Result()
        while res.status is None:
            if not self.read_head(res):
                return res
        if method == "HEAD" or res.status in (204, 304):
            res.complete = True
            return res
        te = ",".join(res.headers.get("transfer-encoding", [])).lower()
        if "chunked" in te:
            body = bytearray()
            while True:
                line = self._line()
                if line is None:
                    res.body = bytes(body)
                    return res
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self._line()
                        if t is None:
                            res.body = bytes(body)
                            return res
                        if not t:
                            break
                        k, _, v = t.decode("latin-1").partition(":")
                        _add(res.trailers, k.strip(), v.strip())
                    res.body, res.complete = bytes(body), True
                    return res
                data = self._exact(size + 2)
                if data is None:
                    body += self.buf
                    res.body = bytes(body)
                    return res
                body += data[:-2]
        if "content-length" in res.headers:
            n = int(res.headers["content-length"][0])
            data = self._exact(n)
            if data is None:
                res.body = self.buf
                return res
            res.body, res.complete = data, True
            return res
        while self._more():
            pass
        res.body, res.complete = self.buf, True  # close-delimited
        return res


def h1_request_head(method: str, path: str, headers: list) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: envoy"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def h1_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def h1_last_chunk(trailers: list | None = None) -> bytes:
    return b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in (trailers or [])) + b"\r\n"


# ---- HTTP/2 client --------------------------------------------------------------------------

class H2Conn:
    """One HTTP/2 (prior knowledge, cleartext) connection driven by hand."""

    def __init__(self, port: int, timeout: float = TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.results: dict[int, Result] = {}
        self.closed = False
        self._flush()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self._terminate()

    def _terminate(self) -> None:
        self.closed = True

    def _pump(self) -> None:
        """Reads once and handles the events (raises Hang on timeout)."""
        if self.closed:
            return
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Hang(f"no HTTP/2 frames from Envoy within {self.timeout} s") from None
        except OSError:
            data = b""
        if not data:
            self._terminate()
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._terminate()
            return
        for ev in events:
            r = self.results.get(getattr(ev, "stream_id", 0) or 0)
            if isinstance(ev, h2.events.InformationalResponseReceived):
                r.interim.append(int(dict(ev.headers)[":status"]))
            elif isinstance(ev, h2.events.ResponseReceived):
                for k, v in ev.headers:
                    if k == ":status":
                        r.status = int(v)
                    else:
                        _add(r.headers, k, v)
            elif isinstance(ev, h2.events.DataReceived):
                r.body += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                for k, v in ev.headers:
                    _add(r.trailers, k, v)
            elif isinstance(ev, h2.events.StreamEnded):
                r.complete = True
                r.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if r is not None:
                    r.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self._terminate()
        self._flush()

    def _done(self, sid: int) -> bool:
        return self.closed or getattr(self.results[sid], "ended", False)

    def start(self, method: str, path: str, headers: list, end_stream: bool) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "envoy")] + [(k.lower(), str(v)) for k, v in headers]
        self.results[sid] = Result()
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self._flush()
        return sid

    def send_data(self, sid: int, data: bytes, end_stream: bool = False) -> None:
        view = memoryview(data)
        while True:
            if self._done(sid):
                return
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0 and view:
                self._pump()
                continue
            part, view = view[:window], view[window:]
            try:
                self.conn.send_data(sid, bytes(part), end_stream=end_stream and not view)
            except h2.exceptions.StreamClosedError:
                return
            self._flush()
            if not view:
                return

    def send_trailers(self, sid: int, trailers: list) -> None:
        if self._done(sid):
            return
        try:
            self.conn.send_headers(sid, [(k.lower(), v) for k, v in trailers], end_stream=True)
        except h2.exceptions.StreamClosedError:
            return
        self._flush()

    def wait_head(self, sid: int) -> Result:
        """Until a 1xx or final head arrived, or the stream ended."""
        r = self.results[sid]
        while r.status is None and not r.interim and not self._done(sid):
            self._pump()
        return r

    def wait_final_head(self, sid: int) -> Result:
        r = self.results[sid]
        while r.status is None and not self._done(sid):
            self._pump()
        return r

    def response(self, sid: int) -> Result:
        while not self._done(sid):
            self._pump()
        return self.results[sid]


# ---- one request, either protocol -----------------------------------------------------------

@dataclass
class Req:
    method: str = "GET"
    path: str = "/"
    headers: list = field(default_factory=list)
    chunks: list | None = None        # None: no body at all
    chunked: bool = False             # no content-length (HTTP/1.1: chunked encoding)
    trailers: list | None = None      # implies chunked
    expect: bool = False              # Expect: 100-continue, body sent after the 100

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks or [])


def exchange(proto: str, port: int, req: Req, timeout: float = TIMEOUT) -> Result:
    """Sends req and reads the whole response (or the reset). Raises Hang when Envoy stops
    making progress for `timeout` seconds."""
    return (_exchange_h2 if proto == "h2" else _exchange_h1)(port, req, timeout)


def _exchange_h1(port: int, req: Req, timeout: float) -> Result:
    chunked = req.chunks is not None and (req.chunked or req.trailers is not None)
    headers = list(req.headers) + [("connection", "close")]
    if req.chunks is not None:
        headers.append(("transfer-encoding", "chunked") if chunked
                       else ("content-length", str(len(req.body))))
    if req.expect:
        headers.append(("expect", "100-continue"))
    with H1Conn(port, timeout) as c:
        c.send(h1_request_head(req.method, req.path, headers))
        res = Result()
        if req.expect:
            c.read_interim_or_final(res)
            if res.status is not None:  # answered without asking for the body
                return c.read_response(res, req.method)
            if not res.interim:
                return res  # closed
        for chunk in req.chunks or []:
            if chunked:
                if chunk:
                    c.send(h1_chunk(chunk))
            else:
                c.send(chunk)
        if chunked:
            c.send(h1_last_chunk(req.trailers))
        return c.read_response(res, req.method)


def _exchange_h2(port: int, req: Req, timeout: float) -> Result:
    headers = list(req.headers)
    has_body = req.chunks is not None
    if has_body and not (req.chunked or req.trailers is not None):
        headers.append(("content-length", str(len(req.body))))
    if req.expect:
        headers.append(("expect", "100-continue"))
    with H2Conn(port, timeout) as c:
        sid = c.start(req.method, req.path, headers, end_stream=not has_body)
        if has_body:
            if req.expect:
                r = c.wait_head(sid)
                if r.status is not None or c._done(sid):
                    return c.response(sid)
            chunks = [ch for ch in req.chunks if ch]
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1 and req.trailers is None
                c.send_data(sid, chunk, end_stream=last)
            if req.trailers is not None:
                c.send_trailers(sid, req.trailers)
            elif not chunks:
                c.send_data(sid, b"", end_stream=True)
        return c.response(sid)


# ---- a scriptable raw upstream --------------------------------------------------------------

class RawRequest:
    """What the raw upstream read: method, path, headers; the body is read by the script."""

    def __init__(self, conn: socket.socket, rf, method: str, path: str, headers: dict):
        self.conn, self.rf, self.method, self.path, self.headers = conn, rf, method, path, headers

    def header(self, name: str, default=None):
        v = self.headers.get(name)
        return v[0] if v else default

    def read_body(self) -> bytes:
        if "chunked" in (self.header("transfer-encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rf.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rf.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rf.read(size)
                self.rf.readline()
        n = int(self.header("content-length") or 0)
        return self.rf.read(n) if n else b""

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)


class RawUpstream:
    """An HTTP/1.1 upstream whose every exchange is a script (a function of RawRequest) named by
    the request header x-script; the connection is closed after the script."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.scripts: dict = {}
        self.errors: list = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self.sock.close()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        conn.settimeout(30)
        try:
            rf = conn.makefile("rb")
            line = rf.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict = {}
            while True:
                h = rf.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                _add(headers, k.strip(), v.strip())
            req = RawRequest(conn, rf, method, path, headers)
            self.scripts[req.header("x-script")](req)
        except Exception as e:  # reported by the test that owns the script
            self.errors.append(repr(e))
        finally:
            conn.close()


# ---- the Envoy under test -------------------------------------------------------------------

F = "filters.hangs:"
LISTENERS = {
    # name: (filter class, config, cluster, hcm_extra)
    "control": ("Control", "", "upstream", None),
    "plain": (None, "", "upstream", None),
    "plain-desync": (None, "", "desync", None),
    # 1
    "req-buf-nodata-SAB": ("ReqBufferNoData", "STOP_AND_BUFFER", "upstream", None),
    "req-buf-nodata-SABW": ("ReqBufferNoData", "STOP_AND_BUFFER_WATERMARK", "upstream", None),
    "req-buf-data-SAB": ("ReqBufferWithData", "STOP_AND_BUFFER", "upstream", None),
    "req-buf-data-SABW": ("ReqBufferWithData", "STOP_AND_BUFFER_WATERMARK", "upstream", None),
    "resp-buf-nodata-SAB": ("RespBufferNoData", "STOP_AND_BUFFER", "upstream", None),
    "resp-buf-nodata-SABW": ("RespBufferNoData", "STOP_AND_BUFFER_WATERMARK", "upstream", None),
    "resp-buf-data-SAB": ("RespBufferWithData", "STOP_AND_BUFFER", "upstream", None),
    "resp-buf-data-SABW": ("RespBufferWithData", "STOP_AND_BUFFER_WATERMARK", "upstream", None),
    "resp-buf-nodata-SAB-raw": ("RespBufferNoData", "STOP_AND_BUFFER", "raw", None),
    "resp-buf-data-SAB-raw": ("RespBufferWithData", "STOP_AND_BUFFER", "raw", None),
    # 2
    "snb-decode_headers": ("StopNoBufferAtEnd", "decode_headers", "upstream", None),
    "snb-encode_headers": ("StopNoBufferAtEnd", "encode_headers", "upstream", None),
    "snb-decode_trailers": ("StopNoBufferAtEnd", "decode_trailers", "upstream", None),
    "snb-encode_trailers": ("StopNoBufferAtEnd", "encode_trailers", "upstream", None),
    # 3
    "to-thread": ("ToThreadNoop", "", "upstream", None),
    "sleep-tiny": ("SleepTiny", "", "upstream", None),
    # 4
    "stream": ("Streaming", "", "upstream", None),
    "stream-100": ("Streaming", "", "upstream", {"proxy_100_continue": True}),
    "stream-raw": ("Streaming", "", "raw", None),
    "stream-req-raw": ("StreamingRequest", "", "raw", None),
    # 5
    "set-sync": ("BodySetInHeaders", "sync", "desync", None),
    "set-async": ("BodySetInHeaders", "async", "desync", None),
    "set-thread": ("BodySetInHeaders", "thread", "desync", None),
    "resize-wrap": ("StreamResize", "wrap", "desync", None),
    "resize-upper": ("StreamResize", "upper", "desync", None),
    # 6
    "wrap-sync": ("WrapSync", "", "upstream", None),
    "wrap-async0": ("WrapAsync", "async0", "upstream", None),
    "wrap-async1ms": ("WrapAsync", "async1ms", "upstream", None),
    "wrap-gated": ("WrapAsync", "gated", "upstream", None),
    # 7 ("spin" gets its config (a port) from the fixture)
    "spin": ("Spin", None, "upstream", None),
    "unspin": ("Unspin", "", "upstream", None),
    # 8
    "bare-int": ("BareInt", "", "upstream", None),
    "drain-buffered--1": ("Drain", "buffered:-1", "upstream", None),
    "drain-buffered-huge": ("Drain", "buffered:huge", "upstream", None),
    "drain-stream--1": ("Drain", "stream:-1", "upstream", None),
    "drain-stream-huge": ("Drain", "stream:huge", "upstream", None),
    "buffer-each-chunk": ("BufferEachChunk", "", "upstream", None),
    "append-trailers": ("AppendInTrailers", "", "upstream", None),
    "append-trailers-streaming": ("AppendInTrailersStreaming", "", "upstream", None),
    "raise-encode-headers": ("RaiseInEncodeHeaders", "", "upstream", None),
    "raise-later-encode-data": ("RaiseInLaterEncodeData", "", "raw", None),
}


def build_config(listeners: dict, clusters: dict[str, int], overrides: dict | None = None) -> dict:
    """A bootstrap with one listener per entry of `listeners` ({name: (class or None, config,
    cluster, hcm_extra)}) and one HTTP/1.1 cluster per entry of `clusters` ({name: port})."""
    overrides = overrides or {}
    out = []
    for name, (cls, cfg, cluster, extra) in listeners.items():
        cfg = overrides.get(name, cfg)
        chain = [filter_entry(F + cls if ":" not in cls else cls, cfg)] if cls else []
        out.append(listener(name, chain, cluster=cluster, hcm_extra=extra))
    first, *rest = clusters.items()
    config = bootstrap(out, first[1])
    template = config["static_resources"]["clusters"][0]
    assert template["name"] == first[0]
    for cname, port in rest:
        c = json.loads(json.dumps(template))
        c["name"] = cname
        c["load_assignment"]["cluster_name"] = cname
        c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"]["port_value"] = port
        config["static_resources"]["clusters"].append(c)
    return config


@pytest.fixture(scope="module")
def raw():
    with RawUpstream() as r:
        yield r


@pytest.fixture(scope="module")
def desync():
    """An upstream of its own for the framing tests: its keep-alive connections carry only
    their requests, so leftover bytes would show up in the next request."""
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def spin_signal():
    """The Spin filter connects here when its loop starts."""
    s = socket.create_server(("127.0.0.1", 0))
    s.settimeout(TIMEOUT)
    yield s
    s.close()


@pytest.fixture(scope="module")
def envoy(upstream, raw, desync, spin_signal):
    config = build_config(LISTENERS, {"upstream": upstream.port, "raw": raw.port,
                                      "desync": desync.port},
                          {"spin": str(spin_signal.getsockname()[1])})
    with EnvoyProcess(config=config) as env:
        yield env


def control(envoy, path="/seen", xid="") -> dict:
    res = exchange("h1", envoy.ports["control"], Req(path=path, headers=[("x-id", xid)]))
    assert res.status == 200, res.describe()
    return json.loads(res.body)


def stats(envoy) -> dict:
    return control(envoy)["stats"]


def seen(envoy, xid: str) -> list:
    return control(envoy, xid=xid)["seen"]


def assert_settled(envoy, base: dict) -> dict:
    """live_streams and pending return to where they were before the test (the control
    request itself is one live stream, as it was when `base` was read)."""
    last = {}

    def check():
        last.update(stats(envoy))
        return last["live_streams"] <= base["live_streams"] and last["pending"] <= base["pending"]

    try:
        wait_for(check, "live_streams/pending back to baseline")
    except AssertionError:
        raise AssertionError(f"not back to baseline: before {base}, now {last}") from None
    return last


def xid() -> str:
    return uuid.uuid4().hex


PROTOS = ["h1", "h2"]


# ---- 1. STOP_AND_BUFFER(_WATERMARK) from a headers hook never hangs ---------------------------

BUF_STATUSES = ["SAB", "SABW"]


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("status", BUF_STATUSES)
def test_request_headers_buffer_without_data_hook_buffers_then_continues(envoy, upstream,
                                                                          status, proto):
    base = stats(envoy)
    body = [b"first part;", b"second part;", b"third part"]
    i = xid()
    res = exchange(proto, envoy.ports[f"req-buf-nodata-{status}"],
                   Req("POST", "/buf", [("x-id", i)], chunks=body))
    assert res.status == 200 and res.complete, res.describe()
    assert upstream_view(res.body)["body"] == "".join(c.decode() for c in body)
    assert seen(envoy, i) == [["decode_headers", False]]
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("data_hook", ["nodata", "data"])
@pytest.mark.parametrize("status", BUF_STATUSES)
def test_request_headers_buffer_at_end_stream_continues_at_once(envoy, status, data_hook, proto):
    base = stats(envoy)
    i = xid()
    res = exchange(proto, envoy.ports[f"req-buf-{data_hook}-{status}"],
                   Req("GET", "/nobody", [("x-id", i)]))
    assert res.status == 200 and res.complete, res.describe()
    assert upstream_view(res.body)["body_len"] == 0
    assert seen(envoy, i) == [["decode_headers", True]]  # the data hook was not called
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("status", BUF_STATUSES)
def test_request_headers_buffer_with_data_hook_and_body(envoy, upstream, status, proto):
    base = stats(envoy)
    body = [b"alpha;", b"beta;", b"gamma"]
    i = xid()
    res = exchange(proto, envoy.ports[f"req-buf-data-{status}"],
                   Req("POST", "/buf", [("x-id", i)], chunks=body, chunked=True))
    assert res.status == 200 and res.complete, res.describe()
    assert upstream_view(res.body)["body"] == b"".join(body).decode()
    calls = seen(envoy, i)
    assert calls[0] == ["decode_headers", False]
    if status == "SAB":  # the data hook sees the whole body once
        assert calls[1:] == [["decode_data", len(b"".join(body)), True]]
    assert_settled(envoy, base)


RESPONSE_SHAPES = {
    "body": [],
    "chunked-body": [("x-upstream-chunked", "1")],
    "empty-200": [("x-upstream-mode", "size:0")],
    "204": [("x-upstream-mode", "size:0"), ("x-upstream-status", "204")],
}


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("shape", RESPONSE_SHAPES)
@pytest.mark.parametrize("data_hook", ["nodata", "data"])
@pytest.mark.parametrize("status", BUF_STATUSES)
def test_response_headers_buffer_never_hangs(envoy, status, data_hook, shape, proto):
    base = stats(envoy)
    i = xid()
    res = exchange(proto, envoy.ports[f"resp-buf-{data_hook}-{status}"],
                   Req("GET", "/resp", [("x-id", i), *RESPONSE_SHAPES[shape]]))
    want = 204 if shape == "204" else 200
    assert res.status == want and res.complete, res.describe()
    calls = seen(envoy, i)
    if shape in ("body", "chunked-body"):
        assert upstream_view(res.body)["path"] == "/resp"  # the whole JSON body arrived
        assert calls[0] == ["encode_headers", False]
        if data_hook == "data" and status == "SAB":
            assert calls[1:] == [["encode_data", len(res.body), True]]
    else:
        assert res.body == b""
        assert calls == [["encode_headers", True]]  # no data hook call without a body
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("data_hook", ["nodata", "data"])
def test_response_headers_buffer_for_head_request(envoy, raw, data_hook, proto):
    """A HEAD response: content-length but no body, the headers end the stream."""
    base = stats(envoy)
    i, name = xid(), f"head-{xid()}"

    def script(req: RawRequest):
        req.send(b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\nconnection: close\r\n\r\n")

    raw.scripts[name] = script
    res = exchange(proto, envoy.ports[f"resp-buf-{data_hook}-SAB-raw"],
                   Req("HEAD", "/head", [("x-id", i), ("x-script", name)]))
    assert res.status == 200 and res.complete and res.body == b"", res.describe()
    assert seen(envoy, i) == [["encode_headers", True]]
    assert_settled(envoy, base)


# ---- 2. a stop nothing could continue is an error, not a hang -------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("hook", ["decode_headers", "encode_headers", "decode_trailers"])
def test_stop_no_buffer_that_nothing_can_continue_is_a_500(envoy, hook, proto):
    base = stats(envoy)
    if hook == "decode_trailers":
        req = Req("POST", "/", chunks=[b"body"], trailers=[("x-t", "1")])
    elif hook == "encode_headers":
        req = Req("GET", "/", [("x-upstream-mode", "size:0")])  # response headers end the stream
    else:
        req = Req("GET", "/")
    res = exchange(proto, envoy.ports[f"snb-{hook}"], req)
    assert res.status == 500 and res.complete, res.describe()
    after = assert_settled(envoy, base)
    assert after["errors"] == base["errors"] + 1


@pytest.mark.parametrize("proto", PROTOS)
def test_stop_no_buffer_in_encode_trailers_ends_the_stream(envoy, proto):
    """The response headers are out: the stream must still end (a reset), counted."""
    base = stats(envoy)
    res = exchange(proto, envoy.ports["snb-encode_trailers"],
                   Req("GET", "/", [("x-upstream-trailer", "x-rt=1")]))
    assert res.status == 200 and not res.complete, res.describe()
    after = assert_settled(envoy, base)
    assert after["errors"] == base["errors"] + 1


# ---- 3. no lost wake-ups --------------------------------------------------------------------

async def _fire_many(port: int, total: int, concurrency: int, http2: bool) -> list:
    """`total` GETs, `concurrency` at a time; each one's status, "hang" (no answer within
    TIMEOUT), an error name, or "not sent" once `concurrency` of them hung (the verdict is
    clear by then; waiting out the rest would only make a failing run slow)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    timeout = httpx.Timeout(TIMEOUT)
    hangs = 0
    async with httpx.AsyncClient(http1=not http2, http2=http2, limits=limits,
                                 timeout=timeout) as c:
        async def one(n):
            nonlocal hangs
            async with sem:
                if hangs >= concurrency:
                    return "not sent"
                try:
                    r = await c.get(f"http://127.0.0.1:{port}/w{n}")
                    return r.status_code
                except httpx.TimeoutException:
                    hangs += 1
                    return "hang"
                except httpx.HTTPError as e:
                    return type(e).__name__
        return await asyncio.gather(*(one(n) for n in range(total)))


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("listener,total", [("to-thread", 1500), ("sleep-tiny", 1000)])
def test_no_lost_wakeups(envoy, listener, total, proto):
    base = stats(envoy)
    statuses = asyncio.run(_fire_many(envoy.ports[listener], total, 50, proto == "h2"))
    bad = {s: statuses.count(s) for s in set(statuses) if s != 200}
    assert not bad, f"{bad} of {total} requests did not answer 200"
    assert_settled(envoy, base)


# ---- 4. headers are not held until the first body chunk ------------------------------------

@pytest.mark.parametrize("listener", ["stream", "stream-100"])
def test_expect_100_continue_gets_its_100(envoy, upstream, listener):
    """stream-100 proxies the 100 from the upstream, which sends it only once it has the
    request headers: they must not wait in the filter for a body the client holds back."""
    base = stats(envoy)
    with H1Conn(envoy.ports[listener]) as c:
        c.send(h1_request_head("POST", "/expect", [("content-length", "5"),
                                                   ("expect", "100-continue"),
                                                   ("connection", "close")]))
        res = Result()
        assert c.read_interim_or_final(res), "connection closed before any answer"
        assert res.interim == [100] and res.status is None, res.describe()
        c.send(b"hello")
        res = c.read_response(res)
    assert res.status == 200 and res.complete, res.describe()
    assert upstream_view(res.body)["body"] == "hello"
    assert_settled(envoy, base)


def test_expect_100_continue_http2(envoy):
    base = stats(envoy)
    with H2Conn(envoy.ports["stream-100"]) as c:
        sid = c.start("POST", "/expect", [("content-length", "5"), ("expect", "100-continue")],
                      end_stream=False)
        r = c.wait_head(sid)
        assert r.interim == [100] and r.status is None, r.describe()
        c.send_data(sid, b"hello", end_stream=True)
        r = c.response(sid)
    assert r.status == 200 and r.complete, r.describe()
    assert upstream_view(r.body)["body"] == "hello"
    assert_settled(envoy, base)


def _early_answer_script(state: dict):
    """Answers as soon as the request headers are in (before reading the body), then reads
    the body, then ends the response with what it read."""
    def script(req: RawRequest):
        req.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n"
                 b"x-early: 1\r\n\r\n")
        body = req.read_body()
        state["body"] = body
        req.send(h1_chunk(b"got:" + body) + h1_last_chunk())
    return script


@pytest.mark.parametrize("partial", [False, True], ids=["headers-only", "headers+partial-chunk"])
def test_upstream_answer_before_request_body_reaches_client_h1(envoy, raw, partial):
    base = stats(envoy)
    name = f"early-{xid()}"
    state: dict = {}
    raw.scripts[name] = _early_answer_script(state)
    with H1Conn(envoy.ports["stream-req-raw"]) as c:
        c.send(h1_request_head("POST", "/early", [("x-script", name),
                                                  ("transfer-encoding", "chunked"),
                                                  ("connection", "close")]))
        if partial:
            c.send(b"a\r\n01234")  # half of a 10-byte chunk
        res = Result()
        assert c.read_head(res), "closed before the response headers"
        assert res.status == 200 and res.header("x-early") == "1", res.describe()
        c.send((b"56789\r\n" if partial else h1_chunk(b"0123456789")) + h1_chunk(b"tail")
               + h1_last_chunk())
        res = c.read_response(res)
    assert res.complete and res.body == b"got:0123456789tail", res.describe()
    assert state["body"] == b"0123456789tail"
    assert_settled(envoy, base)


@pytest.mark.parametrize("partial", [False, True], ids=["headers-only", "headers+partial-data"])
def test_upstream_answer_before_request_body_reaches_client_h2(envoy, raw, partial):
    base = stats(envoy)
    name = f"early-{xid()}"
    state: dict = {}
    raw.scripts[name] = _early_answer_script(state)
    with H2Conn(envoy.ports["stream-req-raw"]) as c:
        sid = c.start("POST", "/early", [("x-script", name)], end_stream=False)
        if partial:
            c.send_data(sid, b"01234")
        r = c.wait_final_head(sid)
        assert r.status == 200 and r.header("x-early") == "1", r.describe()
        c.send_data(sid, b"56789" if partial else b"0123456789")
        c.send_data(sid, b"tail", end_stream=True)
        r = c.response(sid)
    assert r.complete and r.body == b"got:0123456789tail", r.describe()
    assert_settled(envoy, base)


def _slow_response_script(state: dict, partial: bool):
    """Sends the response headers (and the first part of the body), then waits for the test
    to have seen them before finishing the body."""
    def script(req: RawRequest):
        req.read_body()
        req.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n"
                 b"x-slow: 1\r\n\r\n" + (h1_chunk(b"part1;") if partial else b""))
        state["released"] = state["go"].wait(TIMEOUT + 5)
        req.send((b"" if partial else h1_chunk(b"part1;")) + h1_chunk(b"part2") + h1_last_chunk())
    return script


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("partial", [False, True], ids=["headers-only", "headers+part"])
def test_response_headers_reach_client_before_upstream_finished_body(envoy, raw, partial, proto):
    base = stats(envoy)
    name = f"slow-{xid()}"
    state = {"go": threading.Event()}
    raw.scripts[name] = _slow_response_script(state, partial)
    try:
        if proto == "h1":
            with H1Conn(envoy.ports["stream-raw"]) as c:
                c.send(h1_request_head("GET", "/slow", [("x-script", name),
                                                        ("connection", "close")]))
                res = Result()
                assert c.read_head(res), "closed before the response headers"
                assert res.status == 200 and res.header("x-slow") == "1", res.describe()
                state["go"].set()
                res = c.read_response(res)
        else:
            with H2Conn(envoy.ports["stream-raw"]) as c:
                sid = c.start("GET", "/slow", [("x-script", name)], end_stream=True)
                res = c.wait_final_head(sid)
                assert res.status == 200 and res.header("x-slow") == "1", res.describe()
                state["go"].set()
                res = c.response(sid)
    finally:
        state["go"].set()
    assert res.complete and res.body == b"part1;part2", res.describe()
    assert res.header("x-streaming") == "response"
    assert_settled(envoy, base)


# ---- 5. body writes keep framing right ------------------------------------------------------

def _desync_check(envoy, desync, res: Result, allowed_bodies: set, i: str):
    """After request A (x-id i, whose answer is res), request B goes to the same upstream, on a
    keep-alive connection Envoy reuses: B must arrive intact, A must have been framed right.
    (A is picked by its x-id: a cut-short request of an earlier test may still be recorded by
    the upstream after this test cleared the list.)"""
    nxt = exchange("h1", envoy.ports["plain-desync"], Req("GET", "/next"))
    assert nxt.status == 200 and nxt.complete, f"follow-up request: {nxt.describe()}"
    view = upstream_view(nxt.body)
    assert (view["method"], view["path"], view["body_len"]) == ("GET", "/next", 0), view
    got = [r for r in desync.received
           if r["path"] != "/next" and dict(r["headers"]).get("x-id") == i]
    for r in desync.received:
        assert r["method"] in ("GET", "POST") and r["path"] in ("/a", "/next"), r
    if res.status == 200:
        assert len(got) == 1, got
        a = got[0]
        cl = [v for k, v in a["headers"] if k == "content-length"]
        if cl:
            assert int(cl[0]) == a["body_len"]
        assert a["body"] in allowed_bodies, (
            f"the upstream got body {a['body']!r}; expected one of {sorted(allowed_bodies)}")
    else:
        assert res.status == 500, res.describe()
        # Refused before a complete request went upstream: nothing, or (headers that already
        # went on at CONTINUE) a request cut short by the reset, never a whole one.
        for a in got:
            cl = [v for k, v in a["headers"] if k == "content-length"]
            assert cl and a["body_len"] < int(cl[0]), a


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("mode", ["sync", "async", "thread"])
def test_body_set_from_request_headers_hook_keeps_framing(envoy, desync, mode, proto):
    """request_body.set(b"x") in decode_headers of a POST with content-length 5: a clear error
    (500, counted) or a correct request; never a desync or a hang."""
    base = stats(envoy)
    desync.received.clear()
    i = xid()
    res = exchange(proto, envoy.ports[f"set-{mode}"],
                   Req("POST", "/a", [("x-id", i)], chunks=[b"hello"]))
    assert res.complete, res.describe()
    assert res.status in (200, 500), res.describe()
    # b"x": the write replaced the body; b"xhello": it became the start of the body. b"hello"
    # would be the write silently dropped.
    _desync_check(envoy, desync, res, {b"x", b"xhello"}, i)
    _check_refused(envoy, base, res, mode, i)


def _check_refused(envoy, base, res: Result, mode: str, i: str) -> None:
    """A 500 must come from a clear error: counted by the runtime (hooks), or raised to the
    thread that made the write (which then answered 500 itself)."""
    after = assert_settled(envoy, base)
    if res.status == 500:
        if mode == "thread":
            assert [s for s in seen(envoy, i) if s.startswith("set raised")], seen(envoy, i)
        else:
            assert after["errors"] == base["errors"] + 1


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("mode", ["sync", "async", "thread"])
def test_body_set_on_get_without_body_does_not_hang(envoy, desync, mode, proto):
    base = stats(envoy)
    desync.received.clear()
    i = xid()
    res = exchange(proto, envoy.ports[f"set-{mode}"], Req("GET", "/a", [("x-id", i)]))
    assert res.complete and res.status in (200, 500), res.describe()
    _desync_check(envoy, desync, res, {b"x"}, i)
    _check_refused(envoy, base, res, mode, i)


@pytest.mark.parametrize("proto", PROTOS)
def test_streaming_resize_with_content_length_never_desyncs(envoy, desync, proto):
    """Each chunk wrapped in [ ]: either an error before anything went upstream, or a body
    the upstream reads with the right framing."""
    base = stats(envoy)
    desync.received.clear()
    i = xid()
    chunks = [b"one-", b"two-", b"three"]
    res = exchange(proto, envoy.ports["resize-wrap"],
                   Req("POST", "/a", [("x-id", i)], chunks=chunks))
    if res.status == 200:
        saw = [s.encode("latin-1") for s in seen(envoy, i)]
        assert b"".join(saw) == b"".join(chunks)
        expected = {b"".join(b"[" + s + b"]" for s in saw)}
    else:
        expected = set()
    assert res.complete or res.status is None, res.describe()
    _desync_check(envoy, desync, res, expected, i)
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
def test_streaming_length_preserving_transform(envoy, desync, proto):
    base = stats(envoy)
    desync.received.clear()
    chunks = [b"one-", b"two-", b"three"]
    i = xid()
    res = exchange(proto, envoy.ports["resize-upper"],
                   Req("POST", "/a", [("x-id", i)], chunks=chunks))
    assert res.status == 200 and res.complete, res.describe()
    assert upstream_view(res.body)["body"] == "ONE-TWO-THREE"
    _desync_check(envoy, desync, res, {b"ONE-TWO-THREE"}, i)
    assert_settled(envoy, base)


# ---- 6. async data hooks see each byte once ------------------------------------------------

BODY_CHUNKS = [(b"chunk%02d-" % n) + bytes([97 + n]) * (50 + 37 * n) for n in range(8)]


def _check_wrapped(envoy, upstream, i: str, res: Result):
    assert res.status == 200 and res.complete, res.describe()
    saw = [s.encode("latin-1") for s in seen(envoy, i) if s != "<gate>"]
    sent = b"".join(BODY_CHUNKS)
    got = [r for r in upstream.received if dict(r["headers"]).get("x-id") == i]
    assert len(got) == 1
    body = got[0]["body"]
    again = [s for s in saw if b"[" in s or b"]" in s]
    assert not again, f"the hook was handed its own output again: {again[0][:80]!r}..."
    assert b"".join(saw) == sent, (
        f"the hook saw {len(b''.join(saw))} bytes in {len(saw)} calls for {len(sent)} sent "
        f"(a byte seen twice, or lost)")
    assert body == b"".join(b"[" + s + b"]" for s in saw), (
        f"the upstream body is not the hook's output: {body[:120]!r}...")
    assert body.replace(b"[", b"").replace(b"]", b"") == sent  # every byte once, in order


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("mode", ["sync", "async0", "async1ms"])
def test_data_hook_sees_each_byte_once(envoy, upstream, mode, proto):
    base = stats(envoy)
    i = xid()
    res = exchange(proto, envoy.ports[f"wrap-{mode}"],
                   Req("POST", "/wrap", [("x-id", i)], chunks=BODY_CHUNKS, chunked=True))
    _check_wrapped(envoy, upstream, i, res)
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
def test_data_arriving_while_the_data_hook_is_pending_is_seen_once(envoy, upstream, proto):
    """The first chunk's hook waits on a gate; the rest of the body arrives meanwhile."""
    base = stats(envoy)
    control(envoy, "/gate/reset")
    i = xid()
    first, rest = BODY_CHUNKS[0], BODY_CHUNKS[1:]
    if proto == "h1":
        c = H1Conn(envoy.ports["wrap-gated"])
        c.send(h1_request_head("POST", "/wrap", [("x-id", i), ("transfer-encoding", "chunked"),
                                                 ("connection", "close")]) + h1_chunk(first))
    else:
        c = H2Conn(envoy.ports["wrap-gated"])
        sid = c.start("POST", "/wrap", [("x-id", i)], end_stream=False)
        c.send_data(sid, first)
    with c:
        wait_for(lambda: "<gate>" in seen(envoy, i), "the data hook to wait on its gate")
        for chunk in rest:
            if proto == "h1":
                c.send(h1_chunk(chunk))
            else:
                c.send_data(sid, chunk)
        if proto == "h1":
            c.send(h1_last_chunk())
        else:
            c.send_data(sid, b"", end_stream=True)
        control(envoy, "/gate/open")
        res = c.read_response() if proto == "h1" else c.response(sid)
    _check_wrapped(envoy, upstream, i, res)
    assert_settled(envoy, base)


# ---- 7. a yielding coroutine does not starve its worker -------------------------------------

def test_sleep0_loop_does_not_starve_the_worker(envoy, spin_signal):
    base = stats(envoy)
    control(envoy, "/spin/reset")
    spun: dict = {}

    def spin():
        try:
            spun["res"] = exchange("h1", envoy.ports["spin"], Req("GET", "/spin"), timeout=30)
        except Hang as e:
            spun["res"] = e

    t = threading.Thread(target=spin)
    t.start()
    try:
        try:
            conn, _ = spin_signal.accept()  # the coroutine's loop has started
        except socket.timeout:
            raise Hang("the spinning filter never started") from None
        conn.close()
        plain = exchange("h1", envoy.ports["unspin"], Req("GET", "/plain"))
        assert plain.status == 200, plain.describe()
        # served while the loop was still running (it only stops once this filter ran)
        assert upstream_view(plain.body)["h"]["x-spinning-when-served"] == ["True"]
    finally:
        t.join(40)
    res = spun["res"]
    assert isinstance(res, Result) and res.status == 200, res
    assert int(upstream_view(res.body)["h"]["x-spins"][0]) > 0
    assert_settled(envoy, base)


# ---- 8. other ------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
def test_bare_int_return_is_an_error(envoy, proto):
    base = stats(envoy)
    res = exchange(proto, envoy.ports["bare-int"], Req("GET", "/"))
    assert res.status == 500 and res.complete, res.describe()
    after = assert_settled(envoy, base)
    assert after["errors"] == base["errors"] + 1


@pytest.mark.parametrize("how", ["buffered--1", "buffered-huge", "stream--1", "stream-huge"])
def test_drain_negative_or_past_the_end_clears(envoy, upstream, how):
    base = stats(envoy)
    i = xid()
    res = exchange("h1", envoy.ports[f"drain-{how}"],
                   Req("POST", "/drain", [("x-id", i)], chunks=[b"hello ", b"world"],
                       chunked=how.startswith("stream")))
    assert res.status == 200 and res.complete, (res.describe(), seen(envoy, i))
    assert upstream_view(res.body)["body_len"] == 0
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
def test_buffering_data_hook_called_once_at_the_end_with_trailers(envoy, upstream, proto):
    base = stats(envoy)
    chunks = [b"abc", b"defg", b"hijkl"]
    res = exchange(proto, envoy.ports["buffer-each-chunk"],
                   Req("POST", "/t", chunks=chunks, trailers=[("x-req-trailer", "yes")]))
    assert res.status == 200 and res.complete, res.describe()
    calls = json.loads(res.header("x-data-calls"))
    eos_calls = [c for c in calls if c != "trailers" and c[1]]
    assert eos_calls == [[len(b"".join(chunks)), True]], calls
    after_eos = calls[calls.index(eos_calls[0]) + 1:]
    assert after_eos in ([], ["trailers"]), calls  # not called again
    view = upstream_view(res.body)
    assert view["body"] == "abcdefghijkl"
    assert ["x-req-trailer", "yes"] in view["trailers"]
    assert_settled(envoy, base)


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("listener", ["append-trailers", "append-trailers-streaming"])
def test_append_from_decode_trailers_is_not_dropped(envoy, listener, proto):
    base = stats(envoy)
    res = exchange(proto, envoy.ports[listener],
                   Req("POST", "/t", chunks=[b"body-1;", b"body-2"], trailers=[("x-t", "1")]))
    assert res.complete, res.describe()
    after = assert_settled(envoy, base)
    if res.status == 500:
        assert after["errors"] == base["errors"] + 1
    else:
        assert res.status == 200, res.describe()
        assert upstream_view(res.body)["body"] == "body-1;body-2X"


@pytest.mark.parametrize("proto", PROTOS)
def test_exception_in_encode_headers_is_a_500(envoy, proto):
    base = stats(envoy)
    res = exchange(proto, envoy.ports["raise-encode-headers"], Req("GET", "/"))
    assert res.status == 500 and res.complete, res.describe()
    after = assert_settled(envoy, base)
    assert after["errors"] == base["errors"] + 1


@pytest.mark.parametrize("proto", PROTOS)
def test_exception_in_encode_data_after_headers_resets(envoy, raw, proto):
    base = stats(envoy)
    name = f"later-{xid()}"
    state = {"go": threading.Event()}
    raw.scripts[name] = _slow_response_script(state, partial=True)
    try:
        if proto == "h1":
            with H1Conn(envoy.ports["raise-later-encode-data"]) as c:
                c.send(h1_request_head("GET", "/", [("x-script", name), ("connection", "close")]))
                res = Result()
                assert c.read_head(res), "closed before the response headers"
                state["go"].set()
                res = c.read_response(res)
        else:
            with H2Conn(envoy.ports["raise-later-encode-data"]) as c:
                sid = c.start("GET", "/", [("x-script", name)], end_stream=True)
                res = c.wait_final_head(sid)
                state["go"].set()
                res = c.response(sid)
    finally:
        state["go"].set()
    assert res.status == 200 and not res.complete, res.describe()
    assert b"part2" not in res.body
    after = assert_settled(envoy, base)
    assert after["errors"] == base["errors"] + 1
