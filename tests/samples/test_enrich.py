from envoy_pyext.testing import FilterTester
from samples.enrich import Enrich


def make_tester(**config):
    t = FilterTester(Enrich, {"cluster": "users", "ttl": 60, **config})
    t.callouts.add("users", "/users/ann", response=(200, {}, b'{"name": "Ann", "tier": "gold"}'))
    t.callouts.add("users", "/users/slow", response=(200, {}, b"{}"), delay=5)
    t.callouts.add("users", "/users/broken", response=(500, {}, b"oops"))
    return t


def test_known_user_is_enriched_and_cached():
    t = make_tester()
    for _ in range(2):
        r = t.request(headers={"x-user-id": "ann", "x-user-tier": "forged"})
        assert r.upstream.headers.get_all("x-user-tier") == ["gold"]
        assert r.upstream.headers["x-user-name"] == "Ann"
    assert len(t.callouts.calls) == 1  # the second request was served from the cache
    assert t.callouts.calls[0].headers["accept"] == "application/json"


def test_unknown_user_is_refused():
    r = make_tester().request(headers={"x-user-id": "nobody"})  # 404 from the service
    assert r.client.status == 403 and r.upstream is None


def test_a_failing_service_degrades():
    t = make_tester(timeout=0.05)
    for user in ("slow", "broken"):
        r = t.request(headers={"x-user-id": user})
        assert r.client.status == 200 and r.upstream.headers["x-user-tier"] == "unknown"
        assert r.logs and "going on degraded" in r.logs[0].message
    r = make_tester(timeout=0.05, required=True).request(headers={"x-user-id": "slow"})
    assert r.client.status == 503


def test_anonymous():
    r = make_tester().request()
    assert r.upstream.headers["x-user-tier"] == "anonymous"
