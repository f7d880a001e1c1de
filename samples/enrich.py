"""Async enrichment: looks the caller up in a user service through an Envoy cluster
(`self.http_call`) and passes what it learnt upstream as headers; results are cached for a
while. A slow or failing user service does not fail the request: it goes on marked
`x-user-tier: unknown` (degraded), unless `required` is set (then 503).

filter_config is JSON: {"cluster": "users", "path": "/users/{user}", "timeout": 0.25,
"ttl": 30, "required": false}. The service answers 200 with {"name": ..., "tier": ...} or 404.
"""

import asyncio
import json
import time
from typing import Any

from envoy_pyext import CalloutError, Filter, HeaderMap, Status


class _Cache:
    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self.items: dict[str, tuple[float, dict[str, str] | None]] = {}

    def get(self, key: str) -> tuple[bool, dict[str, str] | None]:
        hit = self.items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: str, value: dict[str, str] | None) -> None:
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[key] = (time.monotonic() + self.ttl, value)


class Enrich(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        cfg = json.loads(raw or "{}")
        return {"cluster": cfg.get("cluster", "users"),
                "path": cfg.get("path", "/users/{user}"),
                "timeout": float(cfg.get("timeout", 0.25)),
                "required": bool(cfg.get("required", False)),
                "cache": _Cache(float(cfg.get("ttl", 30)))}

    async def lookup(self, user: str) -> dict[str, str] | None:
        """The user's profile, None if the service does not know them (raises when it fails)."""
        cfg = self.config
        cache: _Cache = cfg["cache"]
        profile: dict[str, str] | None
        hit, profile = cache.get(user)
        if hit:
            return profile
        async with asyncio.timeout(cfg["timeout"]):
            r = await self.http_call(cfg["cluster"], "GET", cfg["path"].format(user=user),
                                     headers={"accept": "application/json"})
        if r.status == 404:
            profile = None
        elif r.status == 200:
            doc = json.loads(r.body)
            profile = {"name": str(doc.get("name", "")), "tier": str(doc.get("tier", "free"))}
        else:
            raise CalloutError(f"user service answered {r.status}")
        cache.put(user, profile)
        return profile

    async def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        for name in ("x-user-name", "x-user-tier"):
            headers.remove(name)    # only this filter sets them
        user = headers.get("x-user-id")
        if not user:
            headers["x-user-tier"] = "anonymous"
            return None
        try:
            profile = await self.lookup(user)
        except (CalloutError, TimeoutError, ValueError) as e:
            if self.config["required"]:
                return self.callbacks.send_local_reply(503, body=b"user service unavailable\n")
            self.callbacks.log("warning", f"user lookup failed ({type(e).__name__}: {e}); "
                                          f"going on degraded")
            headers["x-user-tier"] = "unknown"
            return None
        if profile is None:
            return self.callbacks.send_local_reply(403, body=b"unknown user\n")
        headers["x-user-name"] = profile["name"]
        headers["x-user-tier"] = profile["tier"]
        return None
