from envoy_pyext.testing import FilterTester, Response, echo
from samples.size_guard import SizeGuard

CONFIG = {"max_request_bytes": 10, "max_response_bytes": 8}


def test_announced_request_size():
    t = FilterTester(SizeGuard, CONFIG)
    r = t.request("POST", "/", body=b"x" * 11)
    assert r.client.status == 413 and r.upstream is None
    assert t.request("POST", "/", body=b"x" * 10, response=(200, {}, b"ok")).client.status == 200


def test_streamed_request_size():
    r = FilterTester(SizeGuard, CONFIG).request("POST", "/", chunks=[b"x" * 6, b"x" * 6])
    assert r.client.status == 413
    assert r.upstream is not None and not r.upstream.complete  # Envoy resets it


def test_response_sizes():
    t = FilterTester(SizeGuard, CONFIG)
    assert t.request(response=(200, {}, b"y" * 9)).client.status == 502
    r = t.request(response=Response(200, {}, chunks=[b"y" * 5, b"y" * 5]))
    assert (r.client.status, r.client.body) == (502, b"upstream response too large\n")
    r = t.request(response=Response(200, {}, chunks=[b"y" * 4, b"y" * 4]))
    assert (r.client.status, r.client.body) == (200, b"y" * 8)
    r = t.request("POST", "/", body=b"1234", response=echo)
    assert (r.client.status, r.client.body) == (200, b"1234")
