"""samples/authz_callout.py end to end: a real authorization service behind an Envoy cluster."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, add_cluster, bootstrap, filter_entry, listener

RELEASE = threading.Event()


class _Authz(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        q = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if q["user"] == "slow":
            RELEASE.wait(60)
        status = 200 if q["user"] in ("alice", "slow") else 401
        self.send_response(status)
        self.send_header("content-length", "0")
        self.send_header("x-authz-user", q["user"].upper())
        self.end_headers()


@pytest.fixture(scope="module")
def envoy(upstream):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Authz)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = bootstrap([listener("authz", [filter_entry(
        "samples.authz_callout:AuthzCallout", '{"cluster": "authz", "timeout": 0.2}')])],
        upstream.port)
    add_cluster(cfg, "authz", srv.server_address[1])
    with EnvoyProcess(config=cfg) as env:
        yield env
    RELEASE.set()
    srv.shutdown()
    srv.server_close()


def test_allowed_user_reaches_upstream_with_the_services_answer(envoy):
    status, _, body = envoy.request("authz", headers={"x-user": "alice"})
    assert status == 200
    assert upstream_view(body)["h"]["x-authz-user"] == ["ALICE"]


def test_denied_user_gets_403(envoy):
    assert envoy.request("authz", headers={"x-user": "mallory"})[::2] == (403, b"denied\n")


def test_slow_service_answers_504_after_the_timeout(envoy):
    status, _, body = envoy.request("authz", headers={"x-user": "slow"})
    assert (status, body) == (504, b"authorization timed out\n")
