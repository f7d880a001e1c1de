"""Answers 401 locally unless the request carries an API key listed in the filter config.

filter_config is JSON: {"keys": ["k1", "k2"], "header": "x-api-key"}.
"""

import json
from typing import Any

from envoy_pyext import Filter, HeaderMap, Status


class ApiKeyAuth(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        cfg = json.loads(raw or "{}")
        keys = cfg.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("'keys' must be a non-empty list of API keys")
        return {"keys": frozenset(keys), "header": cfg.get("header", "x-api-key")}

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        key = headers.get(self.config["header"])
        if key not in self.config["keys"]:
            return self.callbacks.send_local_reply(
                401,
                body=b'{"error": "missing or unknown API key"}\n',
                headers={"content-type": "application/json", "www-authenticate": "ApiKey"},
                details="api_key_rejected",
            )
        headers.remove(self.config["header"])  # never leak the key upstream
        return None
