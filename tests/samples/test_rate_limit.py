from envoy_pyext.testing import FilterTester
from samples.rate_limit import RateLimit, TokenBuckets


def test_burst_then_429_per_client():
    t = FilterTester(RateLimit, {"rate": 0.001, "burst": 2})
    got = [t.request(headers={"x-client-id": "a"}) for _ in range(3)]
    assert [r.client.status for r in got] == [200, 200, 429]
    assert [r.client.headers.get("x-ratelimit-remaining") for r in got] == ["1", "0", "0"]
    assert int(got[2].client.headers["retry-after"]) >= 1 and got[2].upstream is None
    assert t.request(headers={"x-client-id": "b"}).client.status == 200  # another bucket


def test_buckets_refill_at_the_rate():
    now = [0.0]
    b = TokenBuckets(rate=2, burst=1, clock=lambda: now[0])
    assert b.take("k")[0] and not b.take("k")[0]
    now[0] += 0.5
    assert b.take("k")[0]


def test_buckets_are_shared_by_the_streams_of_one_config_only():
    one, two = FilterTester(RateLimit, {"burst": 1, "rate": 0.001}), \
        FilterTester(RateLimit, {"burst": 1, "rate": 0.001})
    assert one.request().client.status == 200 and one.request().client.status == 429
    assert two.request().client.status == 200
