from envoy_pyext.testing import FilterTester
from samples.observability import Observe


def test_metrics_and_access_line():
    t = FilterTester(Observe, "headers", properties={"xds.route_name": "api"})
    r = t.request("GET", "/x", response=(200, {}, b"ok"))
    assert r.client.headers["x-route"] == "api"
    assert r.client.headers["x-upstream-host"] == "127.0.0.1:8080"
    t.request("POST", "/y", response=503)
    assert t.metrics.value("requests_total", route="api", method="GET", code=200) == 1
    assert t.metrics.value("requests_total", route="api", method="POST", code=503) == 1
    assert t.metrics.value("requests_inflight") == 0
    assert len(t.metrics.records("request_duration_ms", route="api")) == 2
    (line,) = r.logs
    assert line.level == "info" and "GET /x 200 route=api upstream=127.0.0.1:8080" in line.message


def test_local_replies_are_counted_too():
    t = FilterTester(Observe)
    r = t.request(response=204)
    assert r.client.headers.get("x-route") is None
    assert t.metrics.value("requests_total", route="-", method="GET", code=204) == 1
