"""Rate limiting with a token bucket per client, shared by every stream of the filter (all
Envoy workers: one interpreter). A request takes a token; without one it gets 429 with
retry-after. Responses carry x-ratelimit-remaining.

filter_config is JSON: {"rate": 10, "burst": 20, "key": "x-client-id"}: `rate` tokens per
second refill each bucket up to `burst`; requests are keyed by the header `key` (without it:
"anonymous").
"""

import json
import math
import threading
import time
from collections.abc import Callable

from envoy_pyext import Filter, HeaderMap, Status


class TokenBuckets:
    """Buckets by key. Thread-safe: hooks of several Envoy workers, and threads, may take
    tokens at once. Idle buckets are dropped once there are more than `max_keys`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> tuple[bool, float, float]:
        """Takes a token for `key`: (allowed, tokens left, seconds until the next token)."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # crude, bounded: a full table starts over
            self._buckets[key] = (tokens, now)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            return allowed, tokens, wait


class RateLimit(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[TokenBuckets, str]:
        # The buckets live in the parsed configuration: one set per filter config, shared by
        # every stream of it (mutable state on purpose; TokenBuckets locks).
        cfg = json.loads(raw or "{}")
        rate, burst = float(cfg.get("rate", 10)), float(cfg.get("burst", 20))
        if rate <= 0 or burst < 1:
            raise ValueError("'rate' must be > 0 and 'burst' >= 1")
        return TokenBuckets(rate, burst), str(cfg.get("key", "x-client-id"))

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        buckets, key_header = self.config
        allowed, left, wait = buckets.take(headers.get(key_header, "anonymous"))
        if not allowed:
            return self.callbacks.send_local_reply(
                429, body=b"rate limit exceeded\n",
                headers={"retry-after": str(max(1, math.ceil(wait))),
                         "x-ratelimit-remaining": "0"},
                details="rate_limited")
        self.remaining = int(left)
        return None

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        if hasattr(self, "remaining"):
            headers["x-ratelimit-remaining"] = self.remaining
        return None
