"""Filters for tests/integration/test_interp_filter_state.py: Python objects in Envoy's filter
state (filter_state.set_object/get_object) with `interpreter: per_worker`.

Request headers drive them: x-tag names the object, x-span its life span ("request" or
"connection"). What each filter saw goes upstream in request headers (the upstream echoes
them); `Token.__del__` counts each drop in envoy_pyext.shared, with the interpreter it ran in.
"""

import asyncio
import json

import envoy_pyext
from envoy_pyext import EnvoyPyextError, Filter, shared

from filters.interp import interpreter_id


class Token:
    """The object handed from one filter to the next."""

    def __init__(self, tag: str):
        self.tag = tag
        self.interp = interpreter_id()

    def __del__(self):
        here = interpreter_id()
        shared.incr(f"interp_fs.freed.{self.tag}")
        if here != self.interp:   # dropped in another interpreter than the one that made it
            shared.incr(f"interp_fs.wrong_interp.{self.tag}")


def key_of(headers) -> str:
    return "acme.token." + headers.get("x-span", "request")


class Producer(Filter):
    """Stores a Token under acme.token.<span> (on a connection: once, by its first request);
    with x-async: 1 from a coroutine after it left the worker (the write is applied when the
    hook resumes)."""

    def decode_headers(self, headers, end_stream):
        headers[f"x-{self.config}-interp"] = str(interpreter_id())
        span = headers.get("x-span", "request")
        key = key_of(headers)
        if span == "connection" and key in self.filter_state:
            return None
        token = Token(headers["x-tag"])
        if headers.get("x-async") == "1":   # (reads are for the worker: checked above)
            return self._later(key, token, span)
        self.filter_state.set_object(key, token, life_span=span)
        return None

    async def _later(self, key, token, span):
        await asyncio.sleep(0.001)
        self.filter_state.set_object(key, token, life_span=span)


class Consumer(Filter):
    """Reads the Token back: x-<config>-saw "<tag>@<interpreter>", or x-<config>-error."""

    def decode_headers(self, headers, end_stream):
        key = key_of(headers)
        headers[f"x-{self.config}-interp"] = str(interpreter_id())
        headers[f"x-{self.config}-has"] = str(key in self.filter_state)
        try:
            obj = self.filter_state.get_object(key, "none")
        except EnvoyPyextError as e:
            headers[f"x-{self.config}-error"] = str(e)
            return
        headers[f"x-{self.config}-saw"] = obj if obj == "none" else f"{obj.tag}@{obj.interp}"


class Replacer(Filter):
    """Stores its own Token under the key of the request (x-replace: 1), replacing the one an
    earlier filter stored: Envoy drops the earlier object inside this filter's hook."""

    def decode_headers(self, headers, end_stream):
        if headers.get("x-replace") == "1":
            tag = headers["x-tag"] + ".replacement"
            try:
                self.filter_state.set_object(key_of(headers), Token(tag))
                headers[f"x-{self.config}-replaced"] = "yes"
            except EnvoyPyextError as e:
                headers[f"x-{self.config}-replaced"] = f"refused: {e}"


class LiveConfigs(Filter):
    """x-<config>-live: the filter configurations alive in this interpreter."""

    def decode_headers(self, headers, end_stream):
        headers[f"x-{self.config}-live"] = str(envoy_pyext.stats()["live_configs"])


class Report(Filter):
    """Answers the envoy_pyext.shared counters named in x-keys (comma-separated), as JSON."""

    def decode_headers(self, headers, end_stream):
        keys = [k for k in headers.get("x-keys", "").split(",") if k]
        body = json.dumps({k: shared.counter(k) for k in keys}).encode()
        return self.callbacks.send_local_reply(200, body)
