"""The samples that use the Envoy context (stream info, metadata, filter state, metrics),
through the real Envoy."""

import re
import time

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener

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


@pytest.fixture(scope="module")
def envoy(upstream):
    cfg = bootstrap([listener("observe", [filter_entry("samples.observability:Observe",
                                                       "headers")],
                              hcm_extra={"route_config": ROUTES})], upstream.port)
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
