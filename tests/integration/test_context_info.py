"""self.stream_info and self.get_property in the real Envoy: HTTP/1.1, HTTP/2 and TLS with a
client certificate, from sync hooks, a coroutine that left the worker, a RUNNING thread, on_log,
and after destroy."""

import hashlib
import http.client
import json
import socket
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, bootstrap, filter_entry, listener

ROUTE = {"name": "local", "virtual_hosts": [{
    "name": "vhost-a", "domains": ["*"],
    "routes": [{"name": "main-route", "match": {"prefix": "/"},
                "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


def make_certs(d):
    """A CA, a server certificate (example.test) and a client certificate with a URI and a DNS
    SAN, made with the openssl command."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    # A CA as strict verifiers (CPython 3.13's VERIFY_X509_STRICT) want it: CA:true, critical,
    # with key usage; leaf certificates with their key usage and authority key identifier.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-keyout", "ca.key", "-out", "ca.crt")
    (d / "leaf.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                "extendedKeyUsage=serverAuth,clientAuth\n"
                                "authorityKeyIdentifier=keyid,issuer\n")
    for name, san in (("server", "DNS:example.test"),
                      ("client", "URI:spiffe://test/client,DNS:client.test")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}/O=pyext",
            "-addext", f"subjectAltName={san}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-copy_extensions", "copy",
            "-extfile", "leaf.ext", "-out", f"{name}.crt")
    return d


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def envoy(upstream, certs):
    info = listener("info", [filter_entry("filters.context_info:Info")],
                    hcm_extra={"route_config": ROUTE})
    tls = listener("tls", [filter_entry("filters.context_info:Info")],
                   hcm_extra={"route_config": ROUTE})
    tls["filter_chains"][0]["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
                     ".DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": str(certs / "server.crt")},
                                      "private_key": {"filename": str(certs / "server.key")}}],
                "validation_context": {"trusted_ca": {"filename": str(certs / "ca.crt")}}}}}
    # Envoy learns the SNI (connection.requested_server_name) from the TLS inspector.
    tls["listener_filters"] = [{
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener"
                                  ".tls_inspector.v3.TlsInspector"}}]
    report = listener("report", [filter_entry("filters.context_info:Report")])
    with EnvoyProcess(config=bootstrap([info, tls, report], upstream.port)) as env:
        yield env


def record(envoy, tag):
    status, _, body = envoy.request("report", headers={"x-tag": tag})
    assert status == 200, body
    return json.loads(body)


def get(envoy, mode="sync", method="GET", body=None):
    tag = uuid.uuid4().hex
    conn = envoy.connect("info")
    before = time.time()
    conn.request(method, "/some/path?q=1", body=body, headers={"x-tag": tag, "x-mode": mode})
    local = "%s:%d" % conn.sock.getsockname()
    resp = conn.getresponse()
    data = resp.read()
    after = time.time()
    conn.close()
    assert resp.status == 200, data
    return tag, record(envoy, tag), upstream_view(data), local, before, after


def test_sync_hooks_http1(envoy, upstream):
    tag, rec, seen, local, before, after = get(envoy, method="POST", body=b"x" * 1234)
    d, e, log = rec["decode"], rec["encode"], rec["log"]
    for v in (d, e, log):
        assert v["route_name"] == "main-route"
        assert v["virtual_host_name"] == "vhost-a"
        assert v["cluster_name"] == "upstream"
        assert v["protocol"] == "HTTP/1.1"
        assert v["request_id"] == seen["h"]["x-request-id"][0]
        assert v["downstream_remote_address"] == local
        assert v["downstream_direct_remote_address"] == local
        assert v["downstream_local_address"] == f"127.0.0.1:{envoy.ports['info']}"
        assert isinstance(v["connection_id"], int)
        assert v["worker_index"] == 0
        assert v["tls"] is None
        assert before <= v["start_time"] <= after
        assert v["start_tz"] == "UTC"
        assert v["start_time"] == d["start_time"]
        assert v["thread"] == rec["worker"]
    assert d["response_code"] is None and d["upstream_host"] is None
    assert d["attempt_count"] == 0 and d["upstream_hosts_attempted"] == []
    assert d["duration"] is None and e["duration"] is None
    assert e["response_code"] == 200 and e["response_code_details"] == "via_upstream"
    assert e["upstream_host"] == f"127.0.0.1:{upstream.port}"
    assert e["upstream_hosts_attempted"] == [f"127.0.0.1:{upstream.port}"]
    assert e["attempt_count"] == 1
    assert e["upstream_local_address"].startswith("127.0.0.1:")
    assert log["response_flags"] == 0
    assert log["bytes_received"] == 1234
    assert log["bytes_sent"] > 0
    assert 0 <= log["duration"] <= after - before
    assert rec["after_destroy"] == "StreamDestroyedError"
    assert rec["property_after_destroy"] == "StreamDestroyedError"
    assert set(rec["context_after_destroy"].values()) == {"StreamDestroyedError"}, \
        rec["context_after_destroy"]


def test_get_property_is_typed(envoy, upstream):
    tag, rec, seen, local, before, after = get(envoy)
    d, e, log = rec["decode"]["props"], rec["encode"]["props"], rec["log"]["props"]
    assert d["request.time"][0] == "datetime"
    assert d["request.duration"] is None and log["request.duration"][0] == "timedelta"
    assert log["request.duration"][1] == pytest.approx(rec["log"]["duration"], abs=1e-6)
    assert d["request.method"] == "GET" and d["request.path"] == "/some/path?q=1"
    assert d["request.protocol"] == "HTTP/1.1"
    assert d["request.id"] == seen["h"]["x-request-id"][0]
    assert d["source.address"] == local and d["source.port"] == int(local.rsplit(":", 1)[1])
    assert d["destination.port"] == envoy.ports["info"]
    assert d["connection.mtls"] is False            # nothing from Envoy on plaintext: False
    assert d["xds.route_name"] == "main-route" and d["xds.cluster_name"] == "upstream"
    assert d["response.code"] is None and e["response.code"] == 200
    assert d["upstream.address"] is None
    assert e["upstream.address"] == f"127.0.0.1:{upstream.port}"
    assert rec["decode"]["default"] == "none-yet"
    assert rec["encode"]["default"] == f"127.0.0.1:{upstream.port}"
    assert d["connection.tls_version"] is None
    assert d["health_check"] is False


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_pending_hooks_see_the_values_of_when_they_left_the_worker(envoy, mode):
    tag, rec, seen, local, before, after = get(envoy, mode=mode)
    pending = rec["decode_pending"]
    assert pending["thread"] != rec["worker"]       # really off the worker
    assert pending["route_name"] == "main-route"
    assert pending["request_id"] == seen["h"]["x-request-id"][0]
    assert pending["downstream_remote_address"] == local
    assert pending["worker_index"] == 0
    assert pending["response_code"] is None
    assert pending["props"]["xds.route_name"] == "main-route"
    assert pending["props"]["request.time"] == rec["encode"]["props"]["request.time"]
    if mode == "async":
        first = rec["decode"]
        assert first["thread"] == rec["worker"]
        assert {k: v for k, v in first.items() if k != "thread"} == \
            {k: v for k, v in pending.items() if k != "thread"}
    else:
        assert rec["unknown"].startswith("unknown property 'no.such.thing'")


def test_http2(envoy):
    tag = uuid.uuid4().hex
    with httpx.Client(http1=False, http2=True) as c:
        r = c.get(f"http://127.0.0.1:{envoy.ports['info']}/h2", headers={"x-tag": tag})
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    rec = record(envoy, tag)
    assert rec["decode"]["protocol"] == "HTTP/2"
    assert rec["decode"]["props"]["request.protocol"] == "HTTP/2"
    assert rec["log"]["response_code"] == 200


def test_tls_with_a_client_certificate(envoy, certs):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    ctx.load_cert_chain(str(certs / "client.crt"), str(certs / "client.key"))
    tag = uuid.uuid4().hex
    conn = http.client.HTTPSConnection("127.0.0.1", envoy.ports["tls"], context=ctx, timeout=30)
    sock = socket.create_connection(("127.0.0.1", envoy.ports["tls"]), timeout=30)
    conn.sock = ctx.wrap_socket(sock, server_hostname="example.test")
    conn.request("GET", "/tls", headers={"x-tag": tag})
    resp = conn.getresponse()
    resp.read()
    version = conn.sock.version()
    conn.close()
    assert resp.status == 200
    rec = record(envoy, tag)
    tls = rec["decode"]["tls"]
    assert tls["version"] == version
    assert tls["sni"] == "example.test"
    assert tls["peer_certificate_presented"] is True
    assert tls["peer_certificate_validated"] is None
    assert "CN=client" in tls["peer_subject"]
    assert "CN=server" in tls["local_subject"]
    assert tls["peer_uri_sans"] == ["spiffe://test/client"]
    assert tls["peer_dns_sans"] == ["client.test"]
    der = ssl.PEM_cert_to_DER_cert((certs / "client.crt").read_text())
    assert tls["sha256_peer_certificate_digest"] == hashlib.sha256(der).hexdigest()
    props = rec["decode"]["props"]
    assert props["connection.mtls"] is True
    assert props["connection.tls_version"] == version
