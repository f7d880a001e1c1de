"""Buffer.translate/upper/lower against the real Envoy: bodies of several slices edited in
place, request and response, whole (buffered) and chunk by chunk, from plain hooks and from
coroutines, over HTTP/1.1 and HTTP/2; a Buffer kept past its stream raises."""

from __future__ import annotations

import json

import pytest

from .harness import EnvoyProcess, wait_for
from .test_hangs import H2Conn, Req, exchange

ROT13 = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                        b"nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM")
# 100,000 bytes: Envoy holds it in several slices (16 KiB each at most)
BODY = (b"Hello Body, abcdefghijklmnopqrstuvwxyz ABC 0123456789 \xc3\xa9\xff\n" * 1600)[:100_000]
SHAPES = {  # how the client sends it
    "h1-content-length": ("h1", False), "h1-chunked": ("h1", True), "h2": ("h2", False),
}
LISTENERS = ["sync", "async"]
EXPECT = {"buffered": lambda b: b.translate(ROT13), "stream": bytes.upper,
          "lower": bytes.lower, "keep": bytes.upper, "bad-tables": lambda b: b}


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"sync": ("filters.bodyedit:BodyEdit", ""),
                       "async": ("filters.bodyedit:BodyEditAsync", ""),
                       "trailers": ("filters.bodyedit:EditInTrailers", ""),
                       "report": ("filters.bodyedit:Report", "")}, upstream.port) as env:
        yield env


def stats(envoy) -> dict:
    status, _, body = envoy.request("report")
    assert status == 200
    return json.loads(body)


@pytest.fixture(autouse=True)
def no_errors(envoy):
    """Every test leaves the runtime as it found it: no error counted, no stream left."""
    before = stats(envoy)
    yield
    after = wait_for(lambda: (s := stats(envoy))["live_streams"] == before["live_streams"] and s,
                     "the test's streams destroyed")
    assert after["errors"] == before["errors"]
    assert after["pending"] == 0 and after["escaped_views"] == before["escaped_views"]


def send(envoy, listener: str, shape: str, headers: dict, body: bytes = BODY):
    proto, chunked = SHAPES[shape]
    chunks = [body[i:i + 10_000] for i in range(0, len(body), 10_000)]
    r = exchange(proto, envoy.ports[listener], Req("POST", "/", list(headers.items()), chunks,
                                                   chunked=chunked))
    assert r.status == 200 and r.complete, r.describe()
    return r


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("mode", ["buffered", "stream", "lower"])
def test_request_body_edited_in_place(envoy, upstream, listener, shape, mode):
    upstream.received.clear()
    send(envoy, listener, shape, {"x-edit": mode})
    got = upstream.received[-1]
    assert got["body"] == EXPECT[mode](BODY)
    if not SHAPES[shape][1]:    # the length is the same: content-length is left as it was
        assert [v for k, v in got["headers"] if k == "content-length"] == [str(len(BODY))]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("mode", ["buffered", "stream", "lower"])
def test_response_body_edited_in_place(envoy, listener, shape, mode):
    r = send(envoy, listener, shape, {"x-edit-response": mode, "x-upstream-mode": "echo",
                                      "x-upstream-chunked": "1"})  # 16 KiB chunks
    assert r.body == EXPECT[mode](BODY)


@pytest.mark.parametrize("listener", LISTENERS)
def test_both_directions_in_one_stream(envoy, listener):
    # request rot13'd on the way up, echoed, then lower-cased on the way down
    r = send(envoy, listener, "h2", {"x-edit": "buffered", "x-edit-response": "lower",
                                     "x-upstream-mode": "echo"})
    assert r.body == BODY.translate(ROT13).lower()


@pytest.mark.parametrize("listener", LISTENERS)
def test_bad_tables_raise_and_leave_the_body(envoy, upstream, listener):
    upstream.received.clear()
    r = send(envoy, listener, "h1-content-length",
             {"x-edit": "bad-tables", "x-edit-response": "bad-tables", "x-upstream-mode": "echo"})
    errors = ("ValueError: translation table must be 256 characters long | "
              "TypeError: a bytes-like object is required, not 'int'")
    assert [v for k, v in upstream.received[-1]["headers"] if k == "x-errors"] == [errors]
    assert r.header("x-errors") == errors
    assert upstream.received[-1]["body"] == BODY and r.body == BODY


@pytest.mark.parametrize("listener", LISTENERS)
def test_kept_buffer_raises_after_destroy(envoy, upstream, listener):
    before = stats(envoy)["live_streams"]
    upstream.received.clear()
    send(envoy, listener, "h1-content-length", {"x-edit": "keep"})
    assert upstream.received[-1]["body"] == BODY.upper()
    wait_for(lambda: stats(envoy)["live_streams"] == before, "the kept stream destroyed")
    send(envoy, "sync", "h2", {"x-edit": "use-kept"}, b"x")
    assert [v for k, v in upstream.received[-1]["headers"] if k == "x-kept"] == \
        ["StreamDestroyedError,StreamDestroyedError,StreamDestroyedError"]
    assert envoy.alive()


def test_body_edited_in_place_in_the_trailers_hook_keeps_content_length(envoy, upstream):
    """HTTP/2 request with content-length and trailers: the body held by the data hook is
    edited in decode_trailers after the headers went on; the upstream gets the edited body
    with the original content-length, and each length-changing write was refused."""
    body = BODY[:30_000]
    with H2Conn(envoy.ports["trailers"]) as c:
        sid = c.start("POST", "/", [("content-length", str(len(body)))], end_stream=False)
        for i in range(0, len(body), 10_000):
            c.send_data(sid, body[i:i + 10_000])
        c.send_trailers(sid, [("x-req-trailer", "t")])
        r = c.response(sid)
    assert r.status == 200 and r.complete, r.describe()
    got = upstream.received[-1]
    assert got["body"] == body.upper().replace(b"E", b"3")
    assert ["content-length", str(len(body))] in got["headers"]
    report = json.loads(r.headers["x-trailers-edit"][0])
    assert report["len"] == len(body)
    assert [e.split(" (")[0] for e in report["errors"]] == [
        "the request body cannot grow", "the request body cannot shrink",
        "the request body cannot shrink", "the request body cannot grow"]
    assert all("in decode_trailers: its headers already went on with content-length" in e
               for e in report["errors"]), report
