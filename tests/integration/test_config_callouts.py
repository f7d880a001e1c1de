"""Config-level work: parse_config(cls, raw, context) spawning a coroutine that calls a
service through an Envoy cluster (context.http_call), and samples/jwt_jwks.py end to end."""

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, add_cluster, bootstrap, filter_entry, listener, wait_for


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(kid: str, secret: bytes, sub: str, exp: float | None = None) -> str:
    head = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    claims = {"sub": sub, **({"exp": exp} if exp is not None else {})}
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class _Keys(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = {"kid": "k1", "secret": b"first-secret", "served": 0}

    def log_message(self, *args):
        pass

    def do_GET(self):
        st = _Keys.state
        st["served"] += 1
        if self.path == "/version":
            body = str(st["served"]).encode()
        else:
            body = json.dumps({"keys": [{"kid": st["kid"], "kty": "oct",
                                         "k": b64(st["secret"])}]}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def envoy(upstream):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = bootstrap([
        listener("jwt", [filter_entry("samples.jwt_jwks:JwtJwks",
                                      '{"cluster": "keys", "refresh": 0.1}')]),
        listener("refresh", [filter_entry("filters.configctx:Refreshing", "keys")]),
    ], upstream.port)
    add_cluster(cfg, "keys", srv.server_address[1])
    with EnvoyProcess(config=cfg) as env:
        yield env
    srv.shutdown()
    srv.server_close()


def test_config_level_call_refreshes_a_value_every_100ms(envoy):
    def version():
        status, _, body = envoy.request("refresh")
        assert status == 200
        return int(upstream_view(body)["h"]["x-version"][0])

    first = wait_for(lambda: version() > 0 and version(), "a first fetch")
    wait_for(lambda: version() >= first + 2, "two more refreshes")


@pytest.mark.parametrize("interpreter", [
    "shared", pytest.param("per_worker", marks=pytest.mark.skipif(
        sys.version_info < (3, 12), reason="per_worker needs CPython 3.12+"))])
def test_validate_mode_spawns_nothing(tmp_path, upstream, interpreter):
    import subprocess

    from .harness import envoy_binary, envoy_env
    entry = filter_entry("filters.configctx:Refreshing", "no-such-cluster") \
        if interpreter == "shared" else filter_entry("refresh", json.dumps(
            {"class": "filters.configctx:Refreshing", "config": "no-such-cluster",
             "interpreter": "per_worker"}))
    cfg = bootstrap([listener("refresh", [entry])], upstream.port)
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(cfg))
    result = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path)],
                            env=envoy_env(), capture_output=True, text=True, timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "spawned nothing (validate)" in out


def test_jwt_with_jwks_fetched_and_rotated(envoy):
    auth = {"authorization": f"Bearer {token('k1', b'first-secret', 'alice')}"}
    status, _, body = wait_for(lambda: (r := envoy.request("jwt", headers=auth))[0] != 503 and r,
                           "the key set")
    assert status == 200
    assert upstream_view(body)["h"]["x-jwt-sub"] == ["alice"]
    bad = {"authorization": f"Bearer {token('k1', b'wrong', 'mallory')}"}
    assert envoy.request("jwt", headers=bad)[0] == 401
    expired = {"authorization": f"Bearer {token('k1', b'first-secret', 'bob', time.time() - 5)}"}
    assert envoy.request("jwt", headers=expired)[0] == 401
    assert envoy.request("jwt")[0] == 401
    # key rotation at the service: the next refresh picks it up, no reload
    _Keys.state.update(kid="k2", secret=b"second-secret")
    rotated = {"authorization": f"Bearer {token('k2', b'second-secret', 'carol')}"}
    status, _, body = wait_for(lambda: (r := envoy.request("jwt", headers=rotated))[0] == 200 and r,
                           "the rotated key")
    assert upstream_view(body)["h"]["x-jwt-sub"] == ["carol"]
    assert envoy.request("jwt", headers=auth)[0] == 401   # the old key is gone
