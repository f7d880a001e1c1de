"""FilterTester's Envoy context: stream info and properties, metadata, filter state, metrics,
routing calls and per-route configuration (envoy_pyext/_testcontext.py). The table in
tests/semantics checks metadata, properties and filter state against the real Envoy."""

from __future__ import annotations

import datetime
import re

import pytest

from envoy_pyext import FilterConfigError
from envoy_pyext._testcontext import PROPERTY_NAMES
from envoy_pyext.testing import FilterTester
from tests.fakehost.driver import Config, Stream

from . import testing_filters as tf


def test_property_names_are_the_runtimes():
    cfg = Config("tests.unit.testing_filters:UnknownProperty")
    try:
        with Stream(cfg, headers={":path": "/", ":method": "GET"}) as s:
            s.request_headers(end_of_stream=True)
            s.stream_complete()
    finally:
        cfg.destroy()
    m = re.search(r"answers these: (.*) \(read headers", tf.UnknownProperty.message)
    assert m, tf.UnknownProperty.message
    assert set(m[1].split(", ")) == set(PROPERTY_NAMES)


def test_stream_info_from_the_request_and_the_test():
    t = FilterTester(tf.Context, properties={"xds.route_name": "api",
                                             "source.address": "10.1.2.3:5555"},
                     metadata={"route": {"acme": {"team": "blue"}},
                               "host": {"acme": {"zone": "z1"}}},
                     filter_state={"acme.earlier": "from another filter"}, worker_index=2)
    r = t.request("POST", "/x", body=b"12345", response=(201, {}, b"abc"))
    s = r.filter.seen
    assert (s["route"], s["cluster"], s["remote"], s["direct"]) == (
        "api", "upstream", "10.1.2.3:5555", "10.1.2.3:5555")
    assert (s["upstream"], s["attempts"], s["code"], s["duration"], s["tls"]) == (
        None, 0, None, None, None)
    assert (s["team"], s["host_meta"], s["earlier"], s["worker"], s["port"]) == (
        "blue", None, b"from another filter", 2, 5555)
    assert isinstance(s["start"], datetime.datetime) and s["start"].tzinfo is not None
    assert s["route_config"] is None
    sr = r.filter.seen_response
    assert (sr["code"], sr["upstream"], sr["host_meta"], sr["received"]) == (
        201, "127.0.0.1:8080", "z1", 5)
    log = r.filter.seen_log
    assert log["duration"] >= 0 and log["sent"] == 3 and log["details"] == "via_upstream"
    assert isinstance(log["request.duration"], datetime.timedelta)
    assert r.properties["response.code"] == 201 and r.properties["request.method"] == "POST"
    with pytest.raises(ValueError, match="unknown property 'nope'"):
        t.request(properties={"nope": 1})


def test_tls_from_properties():
    r = FilterTester(tf.Tls, properties={
        "connection.tls_version": "TLSv1.3", "connection.requested_server_name": "a.example",
        "connection.mtls": True, "connection.dns_san_peer_certificate": "client.example",
    }).request()
    assert r.filter.tls == ("TLSv1.3", "a.example", True, ["client.example"])


def test_metadata_reads_stop_when_an_async_hook_leaves_the_worker():
    r = FilterTester(tf.AsyncMetadata, metadata={"route": {"acme": {"team": "red"}}}).request()
    assert r.upstream.headers["x-meta"] == "red|EnvoyPyextError"
    assert r.metadata == {"acme": {"written": "late"}}


def test_metrics_accumulate_over_the_testers_streams():
    t = FilterTester(tf.Measured)
    t.request(response=200)
    t.request(response=404)
    t.request(response=200)
    assert t.metrics.value("requests_total", code=200) == 2
    assert t.metrics.value("requests_total", code="404") == 1
    assert t.metrics.value("inflight") == 0
    assert t.metrics.records("latency_ms") == [13, 13, 13]
    r = t.request(headers={"x-bad-label": "1"})
    assert r.client.status == 500
    assert "takes the labels code; got nope" in str(r.error)
    with pytest.raises(KeyError):
        t.metrics.value("nope")


def test_two_metrics_of_one_name_reject_the_configuration():
    with pytest.raises(FilterConfigError, match="two metrics are named 'x'"):
        FilterTester(tf.TwoMetricsOneName)


def test_routing_calls_are_recorded():
    r = FilterTester(tf.Routing).request()
    assert r.route_cache_clears == 1
    assert r.upstream_override_host == ("10.0.0.7:8080", True)
    assert r.upstream.override_host == "10.0.0.7:8080"
    assert r.response_flags == ["PY_ROUTED"]
    assert r.client.headers["x-late-override"] == "EnvoyPyextError"


def test_per_route_configuration():
    t = FilterTester(tf.PerRoute, {"a": 1, "b": 1}, route_config={"b": 2})
    assert t.request().upstream.headers["x-route-config"] == '{"a": 1, "b": 2}'
    assert t.request(route_config=None).upstream.headers["x-route-config"] == "null"
    assert t.request(route_config='{"c": 3}').upstream.headers["x-route-config"] == \
        '{"a": 1, "b": 1, "c": 3}'
    with pytest.raises(FilterConfigError, match="parse_route_config rejected the per-route "
                                                "filter_config: ValueError: bad route config"):
        t.request(route_config={"bad": 1})
