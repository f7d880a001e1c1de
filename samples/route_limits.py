"""Per-route request limits: the filter config holds the defaults, each route (or virtual host)
may override them with a per-route config (``typed_per_filter_config``); both are JSON:

    {"max_body_bytes": 1048576, "methods": ["GET", "POST"]}

A request with a larger declared body gets 413, one with another method 405. The route's
limits are merged over the defaults (a route that sets only ``methods`` keeps the default
``max_body_bytes``).
"""

import json
from typing import Any

from envoy_pyext import Filter, HeaderMap, Status


def _limits(raw: str) -> dict[str, Any]:
    value = json.loads(raw) if raw.strip() else {}
    if not isinstance(value, dict) or set(value) - {"max_body_bytes", "methods"}:
        raise ValueError("limits are a JSON object with max_body_bytes and/or methods")
    if "max_body_bytes" in value and not isinstance(value["max_body_bytes"], int):
        raise ValueError("max_body_bytes must be an integer")
    if "methods" in value:
        value["methods"] = frozenset(m.upper() for m in value["methods"])
    return value


class RouteLimits(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        return _limits(raw)

    @classmethod
    def parse_route_config(cls, raw: str) -> dict[str, Any]:
        return _limits(raw)

    @classmethod
    def merge_route_config(cls, base: dict[str, Any], override: dict[str, Any]
                           ) -> dict[str, Any]:
        return {**base, **override}

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        limits: dict[str, Any] = self.route_config or self.config
        methods = limits.get("methods")
        if methods is not None and headers.get(":method") not in methods:
            return self.callbacks.send_local_reply(
                405, b"method not allowed here\n", {"allow": ", ".join(sorted(methods))})
        length = headers.get("content-length")
        limit = limits.get("max_body_bytes")
        if limit is not None and length is not None and length.isdigit() and int(length) > limit:
            return self.callbacks.send_local_reply(413, b"request body too large\n")
        return None
