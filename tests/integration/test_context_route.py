"""Per-route configuration in the real Envoy: parse_route_config on routes and a virtual host,
merge_route_config with the filter's config, the most specific one wins (Envoy 1.40 hands over
no other), None where none applies, a bad one rejects the configuration."""

import json

import pytest

from .harness import SO_PATH, EnvoyProcess, bootstrap, filter_entry, listener
from .test_config import run_envoy

FILTER = "envoy.filters.http.dynamic_modules"


def per_route(filter_name, value):
    return {FILTER: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3"
                 ".DynamicModuleFilterPerRoute",
        "dynamic_module_config": {"module": {"local": {"filename": str(SO_PATH)}},
                                  "do_not_close": True},
        "filter_name": filter_name,
        "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                          "value": value}}}


def routes(filter_name, vhost_value, route_value):
    return {"name": "local", "virtual_hosts": [
        {"name": "configured", "domains": ["configured"],
         "typed_per_filter_config": per_route(filter_name, vhost_value),
         "routes": [
             {"match": {"prefix": "/route-level"},
              "route": {"cluster": "upstream", "timeout": "30s"},
              "typed_per_filter_config": per_route(filter_name, route_value)},
             {"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"}}]},
        {"name": "bare", "domains": ["*"],
         "routes": [{"match": {"prefix": "/"},
                     "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


@pytest.fixture(scope="module")
def envoy(upstream):
    name = "filters.context_route:PerRoute"
    merged = listener("merged", [filter_entry(name, '{"greeting": "base", "level": 1}')],
                      hcm_extra={"route_config": routes(name, '{"greeting": "vhost"}',
                                                        '{"level": 5}')})
    plain = listener("plain", [filter_entry("filters.context_route:Plain")],
                     hcm_extra={"route_config": routes("filters.context_route:Plain",
                                                       "vhost-raw", "route-raw")})
    with EnvoyProcess(config=bootstrap([merged, plain], upstream.port)) as env:
        yield env


def seen(envoy, listener_name, host, path="/"):
    conn = envoy.connect(listener_name)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("host", host)                # chooses the virtual host
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    return json.loads(resp.getheader("x-route-config"))


def test_the_route_level_config_is_merged_with_the_filter_config(envoy):
    got = seen(envoy, "merged", "configured", "/route-level/x")
    # The route's config overrides the virtual host's entirely: Envoy 1.40 hands over the most
    # specific per-route config only, so the merge is with the filter's config.
    assert got["sync"] == {"greeting": "base", "level": 5}
    assert got["pending"] == got["sync"]        # also from a coroutine that left the worker
    assert got["config"] == {"greeting": "base", "level": 1}


def test_the_virtual_host_config_applies_to_its_other_routes(envoy):
    got = seen(envoy, "merged", "configured", "/other")
    assert got["sync"] == {"greeting": "vhost", "level": 1}


def test_no_per_route_config_is_none(envoy):
    got = seen(envoy, "merged", "elsewhere", "/route-level/x")
    assert got["sync"] is None and got["pending"] is None


def test_defaults_pass_the_raw_per_route_config(envoy):
    assert seen(envoy, "plain", "configured", "/route-level") == "route-raw"
    assert seen(envoy, "plain", "configured", "/x") == "vhost-raw"
    assert seen(envoy, "plain", "other", "/x") is None


@pytest.mark.parametrize("mode", ["run", "validate"])
def test_a_bad_per_route_config_is_refused(mode):
    name = "filters.context_route:PerRoute"
    config = bootstrap([listener("l", [filter_entry(name, "{}")],
                                 hcm_extra={"route_config": routes(name, '{"bad": "oops"}',
                                                                   "{}")})], 9)
    result = run_envoy(config, *(("--mode", "validate") if mode == "validate" else ()))
    output = result.stdout + result.stderr
    assert "parse_route_config rejected the per-route filter_config: ValueError: bad per-route " \
           "config: oops" in output, output[-3000:]
    assert result.returncode != 0
