"""Tracing in the real Envoy: the Zipkin tracer (HTTP JSON v2) reports to a collector the
test runs; the span of a request carries what the Python filter set (tags, log event,
operation name) and has the filter's child span, whether written in the hook, from a
coroutine that left the worker, or from a thread (filters/context_trace.py). A listener
without tracing gives self.span None."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .harness import EnvoyProcess, add_cluster, bootstrap, filter_entry, listener, wait_for


class _Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        if "chunked" in self.headers.get("transfer-encoding", ""):
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with self.server.lock:
            self.server.spans.extend(json.loads(body))
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.daemon_threads = True
    server.spans, server.lock = [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def envoy(upstream, collector):
    tracing = {"tracing": {"random_sampling": {"value": 100}, "provider": {
        "name": "envoy.tracers.zipkin",
        "typed_config": {"@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                         "collector_cluster": "zipkin",
                         "collector_endpoint": "/api/v2/spans",
                         "collector_endpoint_version": "HTTP_JSON",
                         "shared_span_context": False}}}}
    entry = [filter_entry("filters.context_trace:Traced")]
    cfg = bootstrap([listener("traced", entry, hcm_extra=tracing),
                     listener("plain", entry)], upstream.port)
    add_cluster(cfg, "zipkin", collector.server_address[1])
    # Report every span at once (the Zipkin tracer's batch size), not every 5 s.
    cfg["layered_runtime"] = {"layers": [{"name": "static", "static_layer": {
        "tracing.zipkin.min_flush_spans": 1}}]}
    with EnvoyProcess(config=cfg) as env:
        yield env


def spans_of(collector, trace_id):
    with collector.lock:
        return [s for s in collector.spans if s.get("traceId") == trace_id]


@pytest.mark.parametrize("mode", ["sync", "async", "thread"])
def test_span_carries_the_filters_tags_events_and_child(envoy, collector, mode):
    tag = f"t-{mode}"
    status, headers, _ = envoy.request("traced", headers={"x-mode": mode, "x-tag": tag})
    assert status == 200, envoy.log()[-3000:]
    h = dict(headers)
    trace_id = h["x-trace-id"]
    assert len(trace_id) in (16, 32) and int(trace_id, 16)
    assert h["x-span"] == f"{trace_id}/"   # Envoy's Zipkin spans expose no span id

    def complete():
        got = spans_of(collector, trace_id)
        names = {s.get("name") for s in got}
        return got if {f"py-op-{tag}", f"py-child-{tag}"} <= names else None

    got = wait_for(complete, f"the {mode} spans at the collector")
    parent = next(s for s in got if s["name"] == f"py-op-{tag}")
    child = next(s for s in got if s["name"] == f"py-child-{tag}")
    assert parent["tags"]["py.tag"] == tag and parent["tags"]["py.mode"] == mode
    assert f"py-event-{tag}" in [a["value"] for a in parent.get("annotations", [])]
    assert child["parentId"] == parent["id"]
    assert child["tags"]["child.tag"] == tag
    if mode == "sync":
        # Envoy's Zipkin tracer keeps no baggage: set_baggage is accepted, get_baggage None.
        assert h["x-baggage"] == "None"


def test_untraced_stream_has_no_span(envoy):
    status, headers, _ = envoy.request("plain", headers={"x-tag": "plain"})
    assert status == 200
    h = dict(headers)
    assert h["x-span"] == "none" and "x-trace-id" not in h
