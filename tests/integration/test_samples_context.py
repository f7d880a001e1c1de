"""The samples that use the Envoy context (stream info, metadata, filter state, metrics),
through the real Envoy."""

import re
import time

import pytest

from .harness import SO_PATH, EnvoyProcess, Upstream, bootstrap, filter_entry, listener

ROUTES = {"name": "local", "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routes": [{"name": "api", "match": {"prefix": "/api"},
                "route": {"cluster": "upstream", "timeout": "30s"}},
               {"name": "static", "match": {"prefix": "/"},
                "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


def wait_for(fn, timeout=30.0):
    """fn() once it is truthy (a bounded wait: Envoy records after the response went out)."""
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)
    return value


def per_route(filter_name, value):
    return {"envoy.filters.http.dynamic_modules": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3"
                 ".DynamicModuleFilterPerRoute",
        "dynamic_module_config": {"module": {"local": {"filename": str(SO_PATH)}},
                                  "do_not_close": True},
        "filter_name": filter_name,
        "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                          "value": value}}}


CANARY_ROUTES = {"name": "canary", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
    {"match": {"prefix": "/", "headers": [{"name": "x-route-to",
                                           "string_match": {"exact": "canary"}}]},
     "route": {"cluster": "canary", "timeout": "30s"}},
    {"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"}}]}]}

LIMITS = "samples.route_limits:RouteLimits"
LIMIT_ROUTES = {"name": "limits", "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routes": [
        {"match": {"prefix": "/upload"}, "route": {"cluster": "upstream", "timeout": "30s"},
         "typed_per_filter_config": per_route(LIMITS, '{"max_body_bytes": 10000}')},
        {"match": {"prefix": "/read"}, "route": {"cluster": "upstream", "timeout": "30s"},
         "typed_per_filter_config": per_route(LIMITS, '{"methods": ["GET"]}')},
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


@pytest.fixture(scope="module")
def canary():
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def envoy(upstream, canary):
    cfg = bootstrap([
        listener("observe", [filter_entry("samples.observability:Observe", "headers")],
                 hcm_extra={"route_config": ROUTES}),
        listener("canary", [filter_entry("samples.header_routing:CanaryRouting", "ann, bob")],
                 hcm_extra={"route_config": CANARY_ROUTES}),
        listener("limits", [filter_entry(LIMITS, '{"max_body_bytes": 10, '
                                                 '"methods": ["GET", "POST"]}')],
                 hcm_extra={"route_config": LIMIT_ROUTES}),
    ], upstream.port)
    cfg["static_resources"]["clusters"].append({
        "name": "canary", "connect_timeout": "2s", "type": "STATIC",
        "load_assignment": {"cluster_name": "canary", "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                        "port_value": canary.port}}}}]}]}})
    cfg["stats_flush_interval"] = "0.05s"
    with EnvoyProcess(config=cfg) as env:
        yield env


def test_observability(envoy, upstream):
    for path in ("/api/a", "/api/b", "/index.html"):
        status, headers, _ = envoy.request("observe", path=path)
        assert status == 200
        h = dict(headers)
        assert h["x-upstream-host"] == f"127.0.0.1:{upstream.port}"
        assert h["x-route"] == ("api" if path.startswith("/api") else "static")
    assert envoy.request("observe", "POST", "/api/c", body=b"x",
                         headers={"x-upstream-status": "503"})[0] == 503

    def metrics():
        text = envoy.admin("/stats/prometheus")
        return text if re.search(r'request_duration_ms_count\{route="api"\} 3', text) else None

    text = wait_for(metrics)
    prefix = "envoy_dynamicmodulescustom_"
    assert f'{prefix}requests_total{{route="api",method="GET",code="200"}} 2' in text
    assert f'{prefix}requests_total{{route="api",method="POST",code="503"}} 1' in text
    assert f'{prefix}requests_total{{route="static",method="GET",code="200"}} 1' in text
    assert f'{prefix}request_duration_ms_count{{route="static"}} 1' in text
    assert f"{prefix}requests_inflight{{}} 0" in text
    log = envoy.log()
    assert re.search(r"127\.0\.0\.1:\d+ POST /api/c 503 route=api upstream=127\.0\.0\.1:\d+ "
                     r"HTTP/1\.1 \d+\.\dms id=[0-9a-f-]{36}", log), log[-3000:]


def test_header_routing(envoy, upstream, canary):
    n = len(canary.received)
    status, headers, _ = envoy.request("canary", headers={"x-user": "bob"})
    assert (status, dict(headers)["x-variant"]) == (200, "canary")
    assert len(canary.received) == n + 1
    m = len(upstream.received)
    # A client cannot route itself to the canary: the filter removes its x-route-to.
    status, headers, _ = envoy.request("canary", headers={"x-user": "eve",
                                                          "x-route-to": "canary"})
    assert (status, dict(headers)["x-variant"]) == (200, "stable")
    assert len(upstream.received) == m + 1 and len(canary.received) == n + 1


def test_route_limits(envoy):
    # defaults: 10 bytes, GET and POST
    assert envoy.request("limits", "POST", "/x", body=b"x" * 10)[0] == 200
    assert envoy.request("limits", "POST", "/x", body=b"x" * 11)[0] == 413
    assert envoy.request("limits", "PUT", "/x", body=b"x")[0] == 405
    # /upload: 10000 bytes, the default methods
    assert envoy.request("limits", "POST", "/upload", body=b"x" * 5000)[0] == 200
    assert envoy.request("limits", "PUT", "/upload", body=b"x")[0] == 405
    # /read: GET only, the default size
    assert envoy.request("limits", "GET", "/read")[0] == 200
    status, headers, _ = envoy.request("limits", "POST", "/read", body=b"x")
    assert status == 405 and dict(headers)["allow"] == "GET"
