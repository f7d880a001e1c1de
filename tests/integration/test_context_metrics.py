"""Counter, Gauge and Histogram in the real Envoy: labelled metrics in admin /stats and
/stats/prometheus, updates from sync hooks, coroutines, threads and a cancelled hook, and the
errors for bad label names and amounts."""

import re
import socket
import time

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener
from .test_config import run_envoy

ROUTE = {"name": "local", "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routes": [{"name": "main", "match": {"prefix": "/"},
                "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


@pytest.fixture(scope="module")
def envoy(upstream):
    cfg = bootstrap([listener("m", [filter_entry("filters.context_metrics:Observe")],
                              hcm_extra={"route_config": ROUTE}),
                     listener("queued", [filter_entry("filters.context_metrics:Queued")])],
                    upstream.port)
    cfg["stats_flush_interval"] = "0.05s"     # histograms reach the admin API at each flush
    with EnvoyProcess(config=cfg) as env:
        yield env


def wait_for(fn, timeout=30.0):
    """fn() once it is truthy (a bounded wait: Envoy updates some values after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def stat(envoy, name):
    return envoy.stat(f"dynamicmodulescustom.{name}")


def prometheus(envoy):
    return envoy.admin("/stats/prometheus")


def test_labelled_counter_gauge_and_histogram(envoy):
    before = stat(envoy, "ctx_requests_total.route.main.code.200") or 0
    for _ in range(3):
        status, headers, _ = envoy.request("m")
        assert status == 200
        assert dict(headers)["x-errors"] == ",".join(
            ["ValueError", "ValueError", "ValueError", "TypeError", "TypeError", "TypeError"])
    wait_for(lambda: stat(envoy, "ctx_requests_total.route.main.code.200") == before + 3)
    wait_for(lambda: stat(envoy, "ctx_inflight") == 0)
    assert stat(envoy, "ctx_level.mode.sync") == 7
    text = wait_for(lambda: (lambda t: t if re.search(
        r'ctx_latency_ms_count\{route="main"\} [1-9]', t) else None)(prometheus(envoy)))
    assert re.search(rf'envoy_dynamicmodulescustom_ctx_requests_total\{{route="main",'
                     rf'code="200"\}} {before + 3}\b', text)
    assert "# TYPE envoy_dynamicmodulescustom_ctx_latency_ms histogram" in text
    assert 'envoy_dynamicmodulescustom_ctx_latency_ms_bucket{route="main",le="+Inf"}' in text
    assert "envoy_dynamicmodulescustom_ctx_inflight{} 0" in text


@pytest.mark.parametrize("mode, amount", [("async", 1), ("thread", 2)])
def test_updates_from_pending_hooks(envoy, mode, amount):
    name = f"ctx_pending_updates.mode.{mode}"
    before = stat(envoy, name) or 0
    status, _, _ = envoy.request("m", headers={"x-mode": mode})
    assert status == 200
    assert stat(envoy, name) == before + amount      # applied when the hook resumed
    if mode == "async":
        assert stat(envoy, "ctx_level.mode.async") == 3


def test_updates_of_a_cancelled_hook_still_count(envoy):
    before = stat(envoy, "ctx_pending_updates.mode.hang") or 0
    with socket.create_connection(("127.0.0.1", envoy.ports["m"]), timeout=30) as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-mode: hang\r\n\r\n")
        # The hook queued its update and waits; the client goes away: Envoy destroys the
        # stream, the runtime cancels the hook and applies what it queued.
        assert envoy.request("queued")[0] == 200
    wait_for(lambda: stat(envoy, "ctx_pending_updates.mode.hang") == before + 1)


@pytest.mark.parametrize("mode", ["run", "validate"])
def test_two_metrics_with_one_name_are_refused(mode):
    config = bootstrap([listener("l", [filter_entry("filters.context_metrics:Twice")])], 9)
    result = run_envoy(config, *(("--mode", "validate") if mode == "validate" else ()))
    output = result.stdout + result.stderr
    assert "two metrics are named 'ctx_twice'" in output, output[-3000:]
    assert result.returncode != 0
