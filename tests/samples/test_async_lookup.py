from envoy_pyext.testing import FilterTester
from samples.async_lookup import RoleLookup


def test_known_and_unknown_users():
    t = FilterTester(RoleLookup, config="0.001")
    r = t.request(headers={"x-user": "alice"})
    assert r.upstream.headers["x-role"] == "admin"
    r = t.request(headers={"x-user": "mallory"})
    assert (r.client.status, r.client.body, r.upstream) == (403, b"unknown user\n", None)
