"""Filters for tests/integration/test_interpreters_config.py: per-route configs and runtime
values under ``interpreter: per_worker``."""

import asyncio
import json
import threading

import envoy_pyext
from envoy_pyext import Filter, runtime, shared
from envoy_pyext._native import _route_configs_cached

_parsed: dict[str, int] = {}    # this interpreter's parse_route_config calls, by raw config


def where() -> str:
    return "sub" if envoy_pyext.in_subinterpreter() else "main"


class RoutePerWorker(Filter):
    """Config and per-route config are JSON objects (the merge: a dict update). Reports the
    route config seen before and after an await, the thread, the interpreter kind, how often
    this interpreter parsed each raw per-route config and the serials its cache keeps."""

    @classmethod
    def parse_config(cls, raw):
        return json.loads(raw)

    @classmethod
    def parse_route_config(cls, raw):
        _parsed[raw] = _parsed.get(raw, 0) + 1
        shared.incr(f"interp_route.parsed.{where()}.{raw}")
        value = json.loads(raw)
        if value.get("bad") == "everywhere" or (value.get("bad") == "in-worker"
                                                and envoy_pyext.in_subinterpreter()):
            raise ValueError(f"bad per-route config in {where()}")
        return value

    @classmethod
    def merge_route_config(cls, base, override):
        return {**base, **override}

    async def decode_headers(self, headers, end_stream):
        first = self.route_config
        await asyncio.sleep(0)
        pending = self.route_config     # prefetched on the worker before the await
        self.report = {"sync": first, "pending": pending, "parsed": dict(_parsed),
                       "all_parsed": {f"{w}:{raw}": shared.counter(f"interp_route.parsed.{w}.{raw}")
                                      for raw in _parsed for w in ("main", "sub")},
                       "cached": len(_route_configs_cached()), "where": where(),
                       "thread": threading.get_native_id()}

    def encode_headers(self, headers, end_stream):
        headers["x-report"] = json.dumps(self.report)


class RuntimePerWorker(Filter):
    """Reads runtime values in parse_config and in its hook (sync and after an await)."""

    @classmethod
    def parse_config(cls, raw):
        return {"limit": runtime.get_int("pyext.pw.limit", 3), "where": where(),
                "thread": threading.get_native_id()}

    async def decode_headers(self, headers, end_stream):
        sync = runtime.get_int("pyext.pw.limit", 3)
        await asyncio.sleep(0)
        self.report = {"sync": sync, "pending": runtime.get_int("pyext.pw.limit", 3),
                       "flag": runtime.get_bool("pyext.pw.flag", False),
                       "ratio": runtime.get_float("pyext.pw.ratio", 0.5),
                       "at_load": self.config, "where": where(),
                       "thread": threading.get_native_id()}

    def encode_headers(self, headers, end_stream):
        headers["x-report"] = json.dumps(self.report)
