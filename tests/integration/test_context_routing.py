"""Routing controls in the real Envoy: clear_route_cache re-routes to another cluster after a
header change (sync and from a pending coroutine), set_upstream_override_host chooses the
endpoint of a two-endpoint cluster, add_response_flag shows in %CUSTOM_FLAGS%."""

import pytest

from .harness import EnvoyProcess, Upstream, bootstrap, filter_entry, listener
from .test_context_meta import log_line


def cluster(name, *ports):
    return {"name": name, "connect_timeout": "2s", "type": "STATIC",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": p}}}} for p in ports]}]}}


@pytest.fixture(scope="module")
def third():
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def access_log(tmp_path_factory):
    return tmp_path_factory.mktemp("accesslog") / "access.log"


@pytest.fixture(scope="module")
def envoy(upstream, side, third, access_log):
    routes = {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"name": "to-side", "match": {"prefix": "/", "headers": [
            {"name": "x-target", "string_match": {"exact": "side"}}]},
         "route": {"cluster": "side", "timeout": "30s"}},
        {"name": "to-pair", "match": {"prefix": "/pair"},
         "route": {"cluster": "pair", "timeout": "30s"}},
        {"name": "default", "match": {"prefix": "/"},
         "route": {"cluster": "upstream", "timeout": "30s"}}]}]}
    hcm = {"route_config": routes, "access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log),
            "log_format": {"text_format": "tag=%REQ(x-tag)% flags=%CUSTOM_FLAGS%\n"}}}]}
    cfg = bootstrap([listener("r", [filter_entry("filters.context_routing:Steer")],
                              hcm_extra=hcm)], upstream.port)
    cfg["static_resources"]["clusters"] += [cluster("side", side.port),
                                            cluster("pair", upstream.port, third.port)]
    with EnvoyProcess(config=cfg, extra_args=["--file-flush-interval-msec", "20"]) as env:
        yield env


def go(envoy, path="/", **headers):
    status, h, body = envoy.request("r", path=path, headers=headers)
    assert status == 200, body
    return dict(h)


@pytest.mark.parametrize("is_async", ["0", "1"])
def test_clear_route_cache_reroutes(envoy, upstream, side, is_async):
    # Envoy chose the route before the filter ran: a header change alone does not re-route.
    h = go(envoy, **{"x-want": "side", "x-async": is_async})
    assert (h["x-route"], h["x-upstream"]) == ("default", f"127.0.0.1:{upstream.port}")
    assert h["x-errors"] == "ValueError,ValueError,ValueError"
    # With clear_route_cache it does.
    n = len(side.received)
    h = go(envoy, **{"x-want": "side", "x-clear": "1", "x-async": is_async})
    assert (h["x-route"], h["x-upstream"]) == ("to-side", f"127.0.0.1:{side.port}")
    assert len(side.received) == n + 1
    assert dict(side.received[-1]["headers"])["x-target"] == "side"


@pytest.mark.parametrize("strict", ["0", "1"])
def test_set_upstream_override_host_chooses_the_endpoint(envoy, upstream, third, strict):
    for target in (third, upstream, third, third):
        h = go(envoy, "/pair", **{"x-pick": f"127.0.0.1:{target.port}", "x-strict": strict})
        assert (h["x-route"], h["x-upstream"]) == ("to-pair", f"127.0.0.1:{target.port}")


def test_strict_override_to_an_unknown_host_fails(envoy):
    status, _, _ = envoy.request("r", path="/pair",
                                 headers={"x-pick": "127.0.0.1:9", "x-strict": "1"})
    assert status == 503


def test_response_flag_in_the_access_log(envoy, access_log):
    go(envoy, **{"x-tag": "flagged"})
    assert "flags=PY_STEERED" in log_line(access_log, "flagged")
