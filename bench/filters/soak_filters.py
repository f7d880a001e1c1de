"""The soak's own filters (bench/soak.py); the soak also runs bench_add_header (sync headers),
bench_add_header_async:AddHeaderAsyncSleep (async, ``sleep(0)``), bench_upper_body (whole-body
buffering rewrite) and bench_callout (one ``http_call`` per request). Every filter here adds
``x-filter: <x-user>`` to the response, which the soak's load generator checks on every
response (bench/wrk/bench.lua, check=1)."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import envoy_pyext
from envoy_pyext import Filter, Status


class AsyncIO(Filter):
    """``async def``: awaits a timer, then real I/O: a GET over a fresh TCP connection
    (asyncio streams) to the local upstream whose port is the filter_config; 503 if the
    upstream's answer is not a 200."""

    @classmethod
    def parse_config(cls, raw):
        return int(raw)

    async def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        await asyncio.sleep(0.001)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.config)
        try:
            writer.write(b"GET /io HTTP/1.1\r\nhost: soak\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(_read_response(reader), 5.0)
        finally:
            writer.close()
        if status != 200:
            return self.callbacks.send_local_reply(503, body=b"upstream I/O failed\n")
        headers["x-seen"] = "1"

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Reads one HTTP/1.1 response with a content-length; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


class StreamUpper(Filter):
    """A streaming response transform: each response chunk upper-cased as it passes, nothing
    held back (content-length kept: the length does not change)."""

    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)

    def encode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).upper())


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="soak-running")


class Threaded(Filter):
    """``Status.RUNNING``: the request headers are handled on a pool thread, which sets a
    header and continues the request."""

    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        _pool.submit(self._work)
        return Status.RUNNING

    def _work(self):
        self.request_headers["x-seen"] = "1"
        self.request_headers["x-thread"] = threading.current_thread().name
        self.callbacks.continue_request()

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)


class Stats(Filter):
    """Answers with ``envoy_pyext.stats()`` as JSON (the soak's sampler); on the path
    ``/live`` also with ``live_by_class``: the Filter objects alive, by class (which filters
    left something behind); on ``/gc`` the same after a ``gc.collect()`` (what is left then is
    not merely waiting for the cycle collector)."""

    def decode_headers(self, headers, end_stream):
        out = dict(envoy_pyext.stats())
        path = headers.get(":path")
        if path == "/gc":
            out["gc_collected"] = gc.collect()
        if path in ("/gc", "/live"):
            out["live_by_class"] = live_by_class()
        return self.callbacks.send_local_reply(200, body=json.dumps(out),
                                               headers={"content-type": "application/json"})


def live_by_class() -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        if isinstance(obj, Filter):
            name = type(obj).__qualname__
            counts[name] = counts.get(name, 0) + 1
    return counts
