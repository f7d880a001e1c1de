import base64
import hashlib
import hmac
import json
import time

from envoy_pyext.testing import FilterTester
from samples.jwt_jwks import JwtJwks

SECRET = b"0123456789abcdef0123456789abcdef"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims: dict, kid: str = "k1", key: bytes = SECRET) -> str:
    head = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def test_the_key_set_is_fetched_by_the_spawned_refresher():
    t = FilterTester(JwtJwks, {"refresh": 30})
    (refresher,) = t.config_context.spawned  # spawned at load; not run by the tester
    refresher.close()
    assert t.request().client.status == 503  # no key set yet


def test_tokens():
    t = FilterTester(JwtJwks)
    for coro in t.config_context.spawned:
        coro.close()
    t.config.keys = {"k1": SECRET}  # what the refresher would have fetched
    ok = t.request(headers={"authorization": f"Bearer {token({'sub': 'ann'})}"})
    assert ok.upstream.headers["x-jwt-sub"] == "ann"
    for bad in (token({"sub": "x"}, key=b"wrong"), token({"sub": "x"}, kid="k2"),
                token({"sub": "x", "exp": time.time() - 10}), "not.a.jwt"):
        r = t.request(headers={"authorization": f"Bearer {bad}"})
        assert r.client.status == 401 and r.client.headers["www-authenticate"] == "Bearer"
