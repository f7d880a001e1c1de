from envoy_pyext.testing import FilterTester
from samples.canary import Canary, in_canary


def test_forced_and_opted_out():
    t = FilterTester(Canary, {"percent": 0})
    r = t.request(headers={"x-canary": "always"})
    assert r.upstream.headers["x-canary"] == "1" and r.client.headers["x-canary-served"] == "1"
    assert r.route_cache_clears == 1  # Envoy chooses the route again, with the header
    r = t.request(headers={"cookie": "a=b; canary=always"})
    assert r.upstream.headers["x-canary"] == "1"
    r = FilterTester(Canary, {"percent": 100}).request(headers={"x-canary": "never",
                                                                "x-user-id": "u"})
    assert "x-canary" not in r.upstream.headers and r.client.headers["x-canary-served"] == "0"
    assert FilterTester(Canary, {"percent": 0}).request().route_cache_clears == 0


def test_a_client_cannot_set_the_routing_header_itself():
    r = FilterTester(Canary, {"percent": 0}).request(headers={"x-canary": "1"})
    assert "x-canary" not in r.upstream.headers


def test_share_of_users_is_stable():
    t = FilterTester(Canary, {"percent": 30})
    users = [f"user-{i}" for i in range(200)]
    picked = {u for u in users
              if "x-canary" in t.request(headers={"x-user-id": u}).upstream.headers}
    assert picked == {u for u in users if in_canary(u, 30)}
    assert 30 <= len(picked) <= 90  # about 30 % of 200
