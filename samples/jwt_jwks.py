"""JWT verification (HS256) with a JWKS fetched and refreshed through an Envoy cluster.

filter_config: '{"cluster": "jwks", "path": "/.well-known/jwks.json", "refresh": 30}'. At load,
the configuration spawns a coroutine that fetches the key set (JSON Web Key Set, "oct" keys:
{"keys": [{"kid": "k1", "kty": "oct", "k": "<base64url secret>"}]}) with a config-level
http_call and refetches it every `refresh` seconds, so key rotation needs no reload. Requests
carry `authorization: Bearer <jwt>`; a token whose kid is known, whose HS256 signature is valid
and whose `exp` (if any) is in the future passes upstream with `x-jwt-sub`; anything else is
answered 401 (503 while no key set was fetched yet).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

from envoy_pyext import EnvoyPyextError, Filter, HeaderMap, Status


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class KeySet:
    """The current keys by kid; replaced as a whole by the refresh coroutine."""

    def __init__(self, cluster: str, path: str, refresh: float) -> None:
        self.cluster, self.path, self.refresh = cluster, path, refresh
        self.keys: dict[str, bytes] | None = None
        self.fetches = 0

    async def keep_fresh(self, context: Any) -> None:
        while True:
            try:
                r = await context.http_call(self.cluster, path=self.path, timeout=5.0)
                if r.status == 200:
                    self.keys = {k["kid"]: _b64url(k["k"])
                                 for k in json.loads(r.body)["keys"] if k.get("kty") == "oct"}
                    self.fetches += 1
            except (EnvoyPyextError, TimeoutError, ValueError, KeyError):
                pass  # keep the last good key set; try again at the next refresh
            await asyncio.sleep(self.refresh)

    def verify(self, token: str) -> dict[str, Any] | None:
        try:
            head, payload, sig = token.split(".")
            header = json.loads(_b64url(head))
            key = (self.keys or {}).get(header.get("kid", ""))
            if key is None or header.get("alg") != "HS256":
                return None
            want = hmac.new(key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _b64url(sig)):
                return None
            claims: dict[str, Any] = json.loads(_b64url(payload))
        except ValueError:
            return None
        if "exp" in claims and float(claims["exp"]) < time.time():
            return None
        return claims


class JwtJwks(Filter):
    @classmethod
    def parse_config(cls, raw: str, context: Any = None) -> Any:
        cfg = {"cluster": "jwks", "path": "/.well-known/jwks.json", "refresh": 30,
               **json.loads(raw or "{}")}
        keys = KeySet(cfg["cluster"], cfg["path"], float(cfg["refresh"]))
        if context is not None:
            context.spawn(keys.keep_fresh(context))
        return keys

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        keys: KeySet = self.config
        if keys.keys is None:
            return self.callbacks.send_local_reply(503, body=b"keys not loaded yet\n")
        auth = headers.get("authorization", "")
        claims = keys.verify(auth[7:]) if auth.startswith("Bearer ") else None
        if claims is None:
            return self.callbacks.send_local_reply(
                401, body=b"invalid token\n", headers={"www-authenticate": "Bearer"})
        headers["x-jwt-sub"] = str(claims.get("sub", ""))
        return None
