"""Header-based canary routing: decides per request whether it goes to the canary, and marks
it with the header `x-canary: 1` that Envoy's route table matches on.

A request goes to the canary when it asks for it (`x-canary: always`, or the cookie
`canary=always`), never when it opts out (`never`), and otherwise for a stable share of users:
the SHA-256 of `x-user-id` (or of the client address) picks `percent` % of them, always the
same ones. The response tells which way it went (`x-canary-served: 1|0`).

filter_config is JSON: {"percent": 10, "user_header": "x-user-id"}.

Envoy chooses the route when the request arrives, before the filters run: after setting the
header the filter calls `self.callbacks.clear_route_cache()`, and the route is chosen again
with it (tests/integration/test_samples.py routes on it to a second cluster).
"""

import hashlib
import json
from http.cookies import CookieError, SimpleCookie

from envoy_pyext import Filter, HeaderMap, Status


def in_canary(user: str, percent: float) -> bool:
    """Whether `user` is one of the `percent` % picked for the canary (stable per user)."""
    digest = hashlib.sha256(user.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def _cookie(headers: HeaderMap, name: str) -> str | None:
    for raw in headers.get_all("cookie"):
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            continue
        if name in jar:
            return jar[name].value
    return None


class Canary(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[float, str]:
        cfg = json.loads(raw or "{}")
        percent = float(cfg.get("percent", 10))
        if not 0 <= percent <= 100:
            raise ValueError("'percent' must be between 0 and 100")
        return percent, str(cfg.get("user_header", "x-user-id"))

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        percent, user_header = self.config
        choice = (headers.get("x-canary") or _cookie(headers, "canary") or "").lower()
        if choice == "always":
            canary = True
        elif choice == "never":
            canary = False
        else:
            user = headers.get(user_header) or headers.get("x-forwarded-for") or ""
            canary = bool(user) and in_canary(user, percent)
        had = "x-canary" in headers
        headers.remove("x-canary")  # only this filter's decision reaches the route table
        if canary:
            headers["x-canary"] = "1"
        if canary or had:
            self.callbacks.clear_route_cache()  # route again, with the header as it is now
        self.canary = canary
        return None

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        if hasattr(self, "canary"):
            headers["x-canary-served"] = "1" if self.canary else "0"
        return None
