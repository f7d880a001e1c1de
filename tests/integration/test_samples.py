"""Every sample in samples/ through the real Envoy."""

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({
        "add_header": ("samples.add_header:AddHeader", "hi"),
        "auth": ("samples.auth_local_reply:ApiKeyAuth", '{"keys": ["k1"]}'),
        "body": ("samples.body_rewrite:BodyRewrite", "hello=goodbye"),
        "async": ("samples.async_lookup:RoleLookup", "0.01"),
    }, upstream.port) as env:
        yield env


def test_add_header(envoy):
    status, headers, body = envoy.request("add_header", headers={"x-user": "alice"})
    assert status == 200
    h = dict((k.lower(), v) for k, v in headers)
    assert (h["x-filter"], h["x-greeting"]) == ("alice", "hi")
    assert upstream_view(body)["h"]["x-seen"] == ["1"]


def test_auth(envoy):
    assert envoy.request("auth")[0] == 401
    assert envoy.request("auth", headers={"x-api-key": "k1"})[0] == 200


def test_body_rewrite(envoy, upstream):
    status, headers, body = envoy.request("body", "POST", body=b"hello world, hello")
    assert status == 200
    assert upstream.received[-1]["body"] == b"goodbye world, goodbye"
    assert body == body.upper()  # the response body came back upper-cased
    assert dict((k.lower(), v) for k, v in headers)["content-length"] == str(len(body))


def test_async_lookup(envoy):
    status, _, body = envoy.request("async", headers={"x-user": "alice"})
    assert status == 200
    assert upstream_view(body)["h"]["x-role"] == ["admin"]
    status, _, body = envoy.request("async", headers={"x-user": "mallory"})
    assert (status, body) == (403, b"unknown user\n")


# ---- the samples added with envoy_pyext.testing (each also has tests/samples/test_*.py) ------

import json  # noqa: E402
import threading  # noqa: E402
import zlib  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import numpy as np  # noqa: E402

from .harness import Upstream, bootstrap, filter_entry, listener  # noqa: E402

MORE = {
    "auth2": ("samples.auth_local_reply:ApiKeyAuth", '{"keys": {"k1": "alice"}}'),
    "redact": ("samples.json_redact:JsonRedact", '{"fields": ["path", "body_len"]}'),
    "cors": ("samples.cors:Cors", '{"origins": ["https://app.example"]}'),
    "ratelimit": ("samples.rate_limit:RateLimit", '{"rate": 0.001, "burst": 2}'),
    "size": ("samples.size_guard:SizeGuard",
             '{"max_request_bytes": 10, "max_response_bytes": 2000}'),
    "mask": ("samples.stream_mask:StreamMask", ""),
    "numpy": ("samples.numpy_stats:NumpyStats", ""),
}


@pytest.fixture(scope="module")
def more(upstream):
    with EnvoyProcess(MORE, upstream.port) as env:
        yield env


def _h(headers):
    return dict((k.lower(), v) for k, v in headers)


def test_api_key_auth_names_the_user(more, upstream):
    status, _, body = more.request("auth2", headers={"x-api-key": "k1"})
    assert status == 200
    h = upstream_view(body)["h"]
    assert h["x-auth-user"] == ["alice"] and "x-api-key" not in h


def test_json_redact(more):
    status, headers, body = more.request("redact", path="/secret-path")
    assert status == 200
    doc = json.loads(body)  # the upstream's JSON description of the request
    assert (doc["path"], doc["body_len"], doc["method"]) == ("***", "***", "GET")
    assert _h(headers)["content-length"] == str(len(body))
    assert _h(headers)["x-redacted"] == "2"


def test_cors(more):
    status, headers, _ = more.request("cors", "OPTIONS", headers={
        "origin": "https://app.example", "access-control-request-method": "POST"})
    assert status == 204 and _h(headers)["access-control-allow-origin"] == "https://app.example"
    status, headers, _ = more.request("cors", headers={"origin": "https://app.example"})
    assert status == 200 and _h(headers)["access-control-allow-origin"] == "https://app.example"
    status, _, _ = more.request("cors", "OPTIONS", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST"})
    assert status == 403


def test_rate_limit_shared_by_streams(more):
    statuses = [more.request("ratelimit", headers={"x-client-id": "c1"})[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert more.request("ratelimit", headers={"x-client-id": "c2"})[0] == 200


def test_size_guard(more):
    assert more.request("size", "POST", body=b"x" * 11)[0] == 413
    assert more.request("size", "POST", body=[b"x" * 6, b"x" * 6], encode_chunked=True)[0] == 413
    assert more.request("size", "POST", body=b"x" * 10)[0] == 200
    status, _, body = more.request("size", headers={"x-upstream-mode": "size:3000"})
    assert (status, body) == (502, b"upstream response too large\n")
    status, _, body = more.request("size", headers={"x-upstream-mode": "size:3000",
                                                    "x-upstream-chunked": "1"})
    assert (status, body) == (502, b"upstream response too large\n")
    status, _, body = more.request("size", headers={"x-upstream-mode": "size:1500",
                                                    "x-upstream-chunked": "1"})
    assert status == 200 and len(body) == 1500


def test_stream_mask(more):
    text = b"".join(b"line %d from user%d@example.com\n" % (i, i) for i in range(2000))
    status, headers, body = more.request("mask", "POST", body=text,
                                         headers={"x-upstream-chunked": "1"})
    assert status == 200
    doc = json.loads(body)
    assert "@example.com" not in doc["body"] and doc["body"].count("[email]") == 2000
    assert "content-length" not in _h(headers)


def test_numpy_stats(more):
    samples = np.linspace(-1, 1, 50_001, dtype="<f4")
    payload = samples.tobytes()
    status, _, body = more.request("numpy", "POST", body=payload,
                                   headers={"content-type": "application/x-float32"})
    assert status == 200
    h = upstream_view(body)["h"]
    assert h["x-samples"] == ["50001"]
    assert h["x-body-adler32"] == [f"{zlib.adler32(payload):08x}"]
    assert (h["x-samples-min"], h["x-samples-max"]) == (["-1"], ["1"])
    nan = np.array([0, np.nan], dtype="<f4").tobytes()
    status, _, _ = more.request("numpy", "POST", body=nan,
                                headers={"content-type": "application/x-float32"})
    assert status == 422
    assert more.stat("dynamicmodulescustom.envoy_pyext_errors.samples.numpy_stats.NumpyStats") \
        in (0, None)


def test_canary_routing():
    """The filter decides, sets x-canary and clears the route cache: the route that matches
    x-canary sends the request to the canary cluster."""
    with Upstream() as stable, Upstream() as canary:
        ln = listener("edge", [filter_entry("samples.canary:Canary", '{"percent": 0}')])
        vhost = ln["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
            "virtual_hosts"][0]
        vhost["routes"].insert(0, {
            "match": {"prefix": "/", "headers": [{"name": "x-canary",
                                                   "string_match": {"exact": "1"}}]},
            "route": {"cluster": "canary"}})
        cfg = bootstrap([ln], stable.port)
        base = cfg["static_resources"]["clusters"][0]
        cfg["static_resources"]["clusters"].append(
            {**base, "name": "canary", "load_assignment": {
                "cluster_name": "canary", "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1",
                                                   "port_value": canary.port}}}}]}]}})
        with EnvoyProcess(config=cfg) as env:
            status, headers, _ = env.request("edge", headers={"x-canary": "always"})
            assert status == 200 and _h(headers)["x-canary-served"] == "1"
            # a client's own x-canary: 1 is not a choice, and does not route to the canary
            status, headers, _ = env.request("edge", headers={"x-canary": "1"})
            assert status == 200 and _h(headers)["x-canary-served"] == "0"
            env.request("edge", headers={"cookie": "canary=always"})
        assert (len(stable.received), len(canary.received)) == (1, 2)
        assert ["x-canary", "1"] in canary.received[0]["headers"]


class _Users(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    PROFILES = {"/users/ann": b'{"name": "Ann", "tier": "gold"}'}

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.PROFILES.get(self.path)
        self.send_response(200 if body else (500 if self.path == "/users/broken" else 404))
        body = body or b"{}"
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_async_enrichment_through_a_cluster(upstream):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Users)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = bootstrap([listener("enrich", [filter_entry("samples.enrich:Enrich",
                                                          '{"cluster": "users"}')])],
                        upstream.port)
        base = cfg["static_resources"]["clusters"][0]
        cfg["static_resources"]["clusters"].append({**base, "name": "users", "load_assignment": {
            "cluster_name": "users", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1",
                                   "port_value": srv.server_address[1]}}}}]}]}})
        with EnvoyProcess(config=cfg) as env:
            status, _, body = env.request("enrich", headers={"x-user-id": "ann"})
            assert status == 200
            h = upstream_view(body)["h"]
            assert (h["x-user-name"], h["x-user-tier"]) == (["Ann"], ["gold"])
            assert env.request("enrich", headers={"x-user-id": "zed"})[0] == 403
            status, _, body = env.request("enrich", headers={"x-user-id": "broken"})
            assert status == 200 and upstream_view(body)["h"]["x-user-tier"] == ["unknown"]
            assert "going on degraded" in env.log()
    finally:
        srv.shutdown()
        srv.server_close()
