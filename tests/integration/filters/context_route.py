"""Filters with per-route configuration (tests/integration/test_context_route.py)."""

import asyncio
import json

from envoy_pyext import Filter


class PerRoute(Filter):
    """Config and per-route config are JSON objects; the merge is a dict update. The route
    config seen (sync, and from a coroutine that left the worker) goes out in x-route-config."""

    @classmethod
    def parse_config(cls, raw):
        return json.loads(raw)

    @classmethod
    def parse_route_config(cls, raw):
        value = json.loads(raw)
        if "bad" in value:
            raise ValueError(f"bad per-route config: {value['bad']}")
        return value

    @classmethod
    def merge_route_config(cls, base, override):
        return {**base, **override}

    async def decode_headers(self, headers, end_stream):
        self.first = self.route_config
        await asyncio.sleep(0.001)
        self.pending = self.route_config

    def encode_headers(self, headers, end_stream):
        headers["x-route-config"] = json.dumps(
            {"sync": self.first, "pending": self.pending, "config": self.config})


class Plain(Filter):
    """The defaults: route_config is the per-route filter_config string itself."""

    def encode_headers(self, headers, end_stream):
        headers["x-route-config"] = json.dumps(self.route_config)
