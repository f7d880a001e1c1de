"""Views bound to their stream, the runtime's counters, logging into Envoy, trailers."""

import json

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"keeper": ("filters.probe:Keeper", ""),
                       "stats": ("filters.probe:Stats", ""),
                       "logger": ("filters.probe:Logger", ""),
                       "trailers": ("filters.probe:Trailers", ""),
                       "add": ("samples.add_header:AddHeader", "")},
                      upstream.port) as env:
        yield env


def test_views_kept_after_destroy_raise(envoy):
    envoy.request("keeper")
    status, _, body = envoy.request("keeper")
    assert status == 200
    assert upstream_view(body)["h"]["x-keeper"] == ["StreamDestroyedError,StreamDestroyedError"]


def test_live_stream_count_returns_to_zero(envoy):
    for _ in range(20):
        assert envoy.request("add", headers={"x-user": "eve"})[0] == 200
    status, _, body = envoy.request("stats")
    stats = json.loads(body)
    # only the /stats stream itself is alive while it answers
    assert stats["live_streams"] == 1, stats
    assert stats["filters_created"] >= 21


def test_python_logging_reaches_envoy_log(envoy):
    envoy.request("logger", path="/log-me")
    log = envoy.log()
    assert "probe.logger: python logging record /log-me" in log
    assert "callbacks.log message" in log
    line = next(ln for ln in log.splitlines() if "callbacks.log message" in ln)
    assert "[error][dynamic_modules]" in line and "probe.py:" in line


def test_request_and_response_trailers(envoy, upstream):
    status, _, body = envoy.request(
        "trailers", "POST", body=[b"abc"], encode_chunked=True,
        trailers={"x-req-trailer": "from-client"},
        headers={"x-upstream-trailer": "x-resp-trailer=from-upstream"})
    assert status == 200
    got = upstream.received[-1]
    assert ["x-req-trailer", "from-client"] in got["trailers"]
    assert ["x-added-trailer", "from-filter"] in got["trailers"]
    assert "response trailers: [('x-resp-trailer', 'from-upstream'), " \
           "('x-resp-trailer-seen', 'from-upstream')]" in envoy.log()
