from envoy_pyext.testing import FilterTester, echo
from samples.body_rewrite import BodyRewrite


def test_rewrites_whole_bodies_with_content_length_fixed():
    t = FilterTester(BodyRewrite, config="hello=goodbye")
    r = t.request("POST", "/", chunks=[b"hello wor", b"ld, hel", b"lo"], response=echo)
    assert r.upstream.body == b"goodbye world, goodbye"
    assert r.client.body == b"GOODBYE WORLD, GOODBYE"
    r = t.request("POST", "/", body=b"hello", response=echo)
    assert r.upstream.headers["content-length"] == "7"
    assert r.client.headers["content-length"] == "7"
