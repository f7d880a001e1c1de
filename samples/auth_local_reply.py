"""Answers 401 locally unless the request carries a known API key; tells the upstream who the
caller is (``x-auth-user``) and never lets the key itself go upstream.

filter_config is JSON: {"keys": ["k1", "k2"]} (each key is also the user's name) or
{"keys": {"k1": "alice", "k2": "bob"}}, and optionally "header" (default "x-api-key").
"""

import json
from typing import Any

from envoy_pyext import Filter, HeaderMap, Status


class ApiKeyAuth(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        cfg = json.loads(raw or "{}")
        keys = cfg.get("keys")
        if isinstance(keys, list):
            keys = {k: k for k in keys}
        if not isinstance(keys, dict) or not keys:
            raise ValueError("'keys' must be a non-empty list of API keys (or {key: user})")
        return {"keys": dict(keys), "header": cfg.get("header", "x-api-key")}

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        key = headers.get(self.config["header"])
        user = self.config["keys"].get(key) if key is not None else None
        if user is None:
            return self.callbacks.send_local_reply(
                401,
                body=b'{"error": "missing or unknown API key"}\n',
                headers={"content-type": "application/json", "www-authenticate": "ApiKey"},
                details="api_key_rejected",
            )
        headers.remove(self.config["header"])  # never leak the key upstream
        headers["x-auth-user"] = user          # (a client cannot set it: it is overwritten)
        return None
