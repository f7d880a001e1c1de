"""Filters writing and reading metadata (tests/integration/test_context_meta.py)."""

import asyncio
import json
import threading

from envoy_pyext import EnvoyPyextError, Filter, Status


class Writer(Filter):
    """Writes the stream's dynamic metadata in decode_headers (sync), after an await (a pending
    coroutine: applied when it resumes), from a RUNNING thread, and in on_log."""

    def decode_headers(self, headers, end_stream):
        tag = headers.get("x-tag", "-")
        md = self.metadata
        md.set("acme.w", "tag", tag)
        md.set("acme.w", "n", 42)
        md.set("acme.w", "ratio", 0.5)
        md.set("acme.w", "flag", True)
        md.set("acme.w", "nothing", None)
        md.set("acme.w", "tags", ["x", 1, False])
        md.set("acme.w", "nested", {"a": {"b": [1, "two"]}, "c": "d"})
        mode = headers.get("x-mode", "sync")
        if mode == "async":
            return self._later()
        if mode == "thread":
            threading.Thread(target=self._thread).start()
            return Status.RUNNING
        return None

    async def _later(self):
        await asyncio.sleep(0.001)      # leaves the worker: the write is applied at resume
        self.metadata.set("acme.w", "late", "from-coroutine")
        try:
            self.metadata.get("acme.w", "tag")
        except EnvoyPyextError as e:
            self.metadata.set("acme.w", "read_error", str(e)[:20])

    def _thread(self):
        self.metadata.set("acme.w", "late", "from-thread")
        self.callbacks.continue_request()

    def on_log(self):
        self.metadata.set("acme.w", "logged", "yes")


class Reader(Filter):
    """Reads what Writer (an earlier filter) and the route/cluster/host configuration set; the
    findings go out in the response header x-meta."""

    def decode_headers(self, headers, end_stream):
        md = self.metadata
        self.seen = {
            "tag": md.get("acme.w", "tag"),
            "n": md.get("acme.w", "n"),
            "n_int": md.get("acme.w", "n", type=int),
            "ratio": md.get("acme.w", "ratio"),
            "flag": md.get("acme.w", "flag"),
            "tags": md.get("acme.w", "tags"),
            "late": md.get("acme.w", "late"),
            "missing": md.get("acme.w", "missing", "dflt"),
            "missing_ns": md.get("no.such.ns", "k", "dflt"),
            "typed_miss": md.get("acme.w", "tag", "dflt", type=float),
            "keys": sorted(md.keys("acme.w")),
            "namespaces": sorted(md.namespaces()),
            "route": {k: md.get("acme", k, source="route") for k in
                      ("team", "weight", "canary", "tags")},
            "route_keys": sorted(md.keys("acme", source="route")),
            "route_namespaces": md.namespaces(source="route"),
        }
        try:
            md.get("acme", "team", source="nowhere")
        except ValueError as e:
            self.seen["bad_source"] = str(e)[:30]
        try:
            md.set("acme.w", "bad", b"bytes")
        except TypeError as e:
            self.seen["bad_value"] = str(e)[:20]

    def encode_headers(self, headers, end_stream):
        md = self.metadata
        self.seen["cluster"] = md.get("acme", "tier", source="cluster")
        self.seen["host"] = md.get("acme", "zone", source="host")
        self.seen["locality"] = md.get("acme", "region", source="host_locality")
        headers["x-meta"] = json.dumps(self.seen)
