"""Reading and rewriting request and response bodies through the real Envoy."""

import hashlib

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess

MODES = ["upper", "append", "prepend", "drain", "clear", "grow", "stream-upper",
         "bytearray-edit", "set-own-view"]
SIZES = {"small": 13, "1MiB": 1 << 20}


def make_body(n: int) -> bytes:
    return (b"hello body abcdefghijklmnopqrstuvwxyz 0123456789\n" * (n // 50 + 1))[:n]


def expected(mode: str, body: bytes) -> bytes:
    return {
        "upper": body.upper(), "append": body + b"-tail", "prepend": b"head-" + body,
        "drain": body[5:], "clear": b"", "grow": body * 2, "stream-upper": body.upper(),
        "bytearray-edit": b"HELLO" + body[5:].upper(), "set-own-view": body[5:],
    }[mode]


@pytest.fixture(scope="module")
def envoy(upstream):
    filters = {m: ("filters.probe:BodyProbe", m) for m in MODES}
    filters["upper-response"] = ("filters.probe:BodyProbe", "upper-response")
    filters["headers-then-body"] = ("filters.probe:HeadersThenBody", "")
    with EnvoyProcess(filters, upstream.port) as env:
        yield env


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("mode", MODES)
def test_request_body_rewrite(envoy, upstream, mode, size, chunked):
    body = make_body(SIZES[size])
    upstream.received.clear()
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] if chunked else body
    status, _, resp = envoy.request(mode, "POST", body=chunks, encode_chunked=chunked)
    assert status == 200, resp[:500]
    got = upstream.received[-1]
    assert got["body"] == expected(mode, body)
    h = upstream_view(resp)["h"]
    if mode != "stream-upper":
        # decode_data saw the whole body (and could still change the headers)
        assert h["x-body-len"] == [str(len(body))]
        assert h["x-body-sha256"] == [hashlib.sha256(body).hexdigest()]
        if not chunked:  # content-length follows the rewrite
            assert h["content-length"] == [str(len(expected(mode, body)))]
    elif not chunked:
        assert h["content-length"] == [str(len(body))]
    if mode == "grow":
        assert h["x-buffer-limit"] == [str(4 << 20)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_response_body_rewrite(envoy, size, chunked):
    n = SIZES[size]
    headers = {"x-upstream-mode": f"size:{n}"}
    if chunked:
        headers["x-upstream-chunked"] = "1"
    status, resp_headers, resp = envoy.request("upper-response", headers=headers)
    assert status == 200
    original = (b"abcdefghijklmnopqrstuvwxyz0123456789\n" * (n // 37 + 1))[:n]
    assert resp == original.upper() + b"!"
    cl = [v for k, v in resp_headers if k.lower() == "content-length"]
    if not chunked:
        assert cl == [str(n + 1)]


def test_stop_and_buffer_from_headers_delivers_whole_body_once(envoy, upstream):
    body = make_body(300_000)
    chunks = [body[i:i + 10_000] for i in range(0, len(body), 10_000)]
    status, _, resp = envoy.request("headers-then-body", "POST", body=chunks, encode_chunked=True)
    assert status == 200
    h = upstream_view(resp)["h"]
    assert h["x-data-calls"] == ["1"] and h["x-data-eos"] == ["True"]
    assert upstream.received[-1]["body"] == body.replace(b"a", b"A")


def test_get_without_body_passes(envoy):
    status, _, resp = envoy.request("upper", "GET")
    assert status == 200
    assert upstream_view(resp)["body_len"] == 0
