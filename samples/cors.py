"""CORS: answers preflight requests locally and adds the Access-Control-* headers to the
responses of allowed origins. Requests from other origins are not blocked (the browser
enforces CORS); their preflights get 403.

filter_config is JSON: {"origins": ["https://app.example.com"], "methods": ["GET", "POST"],
"headers": ["content-type", "authorization"], "max_age": 600, "credentials": false}.
"*" in origins allows every origin (without credentials).
"""

import json
from typing import Any

from envoy_pyext import Filter, HeaderMap, Status


class Cors(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        cfg = json.loads(raw or "{}")
        origins = cfg.get("origins")
        if not isinstance(origins, list) or not origins:
            raise ValueError("'origins' must be a non-empty list")
        if "*" in origins and cfg.get("credentials"):
            raise ValueError("'*' origins cannot be combined with credentials")
        return {
            "origins": frozenset(origins),
            "methods": ", ".join(m.upper() for m in cfg.get("methods", ["GET", "POST"])),
            "headers": ", ".join(h.lower() for h in cfg.get("headers", ["content-type"])),
            "max_age": str(int(cfg.get("max_age", 600))),
            "credentials": bool(cfg.get("credentials", False)),
        }

    def _allowed(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`, or None."""
        if origin is None:
            return None
        if origin in self.config["origins"]:
            return origin
        return "*" if "*" in self.config["origins"] else None

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        origin = headers.get("origin")
        self.allow_origin = self._allowed(origin)
        if headers.get(":method") == "OPTIONS" and "access-control-request-method" in headers:
            if self.allow_origin is None:
                return self.callbacks.send_local_reply(403, body=b"CORS origin not allowed\n",
                                                       details="cors_rejected")
            reply = {
                "access-control-allow-origin": self.allow_origin,
                "access-control-allow-methods": self.config["methods"],
                "access-control-allow-headers": self.config["headers"],
                "access-control-max-age": self.config["max_age"],
                "vary": "origin",
            }
            if self.config["credentials"]:
                reply["access-control-allow-credentials"] = "true"
            return self.callbacks.send_local_reply(204, headers=reply, details="cors_preflight")
        return None

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        allow_origin: str | None = getattr(self, "allow_origin", None)  # (Envoy's own replies
        if allow_origin is not None:                                     # had no decode_headers)
            headers["access-control-allow-origin"] = allow_origin
            headers.add("vary", "origin")
            if self.config["credentials"]:
                headers["access-control-allow-credentials"] = "true"
        return None
