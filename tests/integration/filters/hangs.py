"""Scenario filters for tests/integration/test_hangs.py: stream hangs and data-integrity bugs.

What a filter observes is recorded in `seen[<x-id request header>]` (a list of events) and read
back by the test through the Control filter (`GET /seen` with the same x-id), next to the
runtime's counters (envoy_pyext.stats()).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import envoy_pyext
from envoy_pyext import Filter, Status

_lock = threading.Lock()
seen: dict[str, list] = {}
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="hangs-test")


def record(f: Filter, event) -> None:
    """Appends `event` to what the stream with this x-id observed."""
    key = f.request_headers.get("x-id", "")
    with _lock:
        seen.setdefault(key, []).append(event)


def _status(name: str) -> Status:
    return Status[name]


# ---- control: counters, observations, gates ------------------------------------------------

# A gate an async hook waits on until the test opens it (a concurrent future: safe to await
# from any thread through asyncio.wrap_future, and to resolve from any thread).
_gate: concurrent.futures.Future = concurrent.futures.Future()
# Item 7: the spinning coroutine runs until this is set (by the Unspin filter).
SPIN_STOP = threading.Event()


class Control(Filter):
    """GET /seen (x-id) -> {"stats": stats(), "seen": [...]}; /gate/reset, /gate/open,
    /spin/reset -> 200."""

    def decode_headers(self, headers, end_stream):
        global _gate
        path = headers.get(":path")
        if path == "/gate/reset":
            _gate = concurrent.futures.Future()
        elif path == "/gate/open":
            if not _gate.done():
                _gate.set_result(None)
        elif path == "/spin/reset":
            SPIN_STOP.clear()
        with _lock:
            data = {"stats": envoy_pyext.stats(), "seen": seen.get(headers.get("x-id", ""), [])}
        return self.callbacks.send_local_reply(200, body=json.dumps(data),
                                               headers={"content-type": "application/json"})


# ---- 1. STOP_AND_BUFFER(_WATERMARK) from a headers hook ------------------------------------

class ReqBufferNoData(Filter):
    """decode_headers returns the Status named by the config; no data hook."""

    def decode_headers(self, headers, end_stream):
        record(self, ["decode_headers", end_stream])
        return _status(self.config)


class ReqBufferWithData(Filter):
    """The same with a data hook that only records its calls."""

    def decode_headers(self, headers, end_stream):
        record(self, ["decode_headers", end_stream])
        return _status(self.config)

    def decode_data(self, buffer, end_stream):
        record(self, ["decode_data", len(buffer), end_stream])


class RespBufferNoData(Filter):
    """encode_headers returns the Status named by the config; no data hook."""

    def encode_headers(self, headers, end_stream):
        record(self, ["encode_headers", end_stream])
        return _status(self.config)


class RespBufferWithData(Filter):
    def encode_headers(self, headers, end_stream):
        record(self, ["encode_headers", end_stream])
        return _status(self.config)

    def encode_data(self, buffer, end_stream):
        record(self, ["encode_data", len(buffer), end_stream])


# ---- 2. stops nothing could ever continue --------------------------------------------------

class StopNoBufferAtEnd(Filter):
    """STOP_NO_BUFFER from the hook named by the config ("decode_headers", "encode_headers",
    "decode_trailers", "encode_trailers")."""

    def decode_headers(self, headers, end_stream):
        if self.config == "decode_headers":
            return Status.STOP_NO_BUFFER

    def encode_headers(self, headers, end_stream):
        if self.config == "encode_headers":
            return Status.STOP_NO_BUFFER

    def decode_trailers(self, trailers):
        if self.config == "decode_trailers":
            return Status.STOP_NO_BUFFER

    def encode_trailers(self, trailers):
        if self.config == "encode_trailers":
            return Status.STOP_NO_BUFFER


# ---- 3. lost wake-ups ----------------------------------------------------------------------

class ToThreadNoop(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.to_thread(lambda: None)
        headers["x-to-thread"] = "1"


class SleepTiny(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)
        headers["x-slept"] = "1"


# ---- 4. headers are not held until the first body chunk -------------------------------------

class Streaming(Filter):
    """Every headers and data hook, all CONTINUE (streaming); records the bytes it saw."""

    def decode_headers(self, headers, end_stream):
        headers["x-streaming"] = "request"

    def decode_data(self, buffer, end_stream):
        record(self, ["decode_data", bytes(buffer).decode("latin-1"), end_stream])

    def encode_headers(self, headers, end_stream):
        headers["x-streaming"] = "response"

    def encode_data(self, buffer, end_stream):
        record(self, ["encode_data", bytes(buffer).decode("latin-1"), end_stream])


class StreamingRequest(Filter):
    """Only the request side: decode_headers and a streaming decode_data, both CONTINUE."""

    def decode_headers(self, headers, end_stream):
        headers["x-streaming"] = "request"

    def decode_data(self, buffer, end_stream):
        record(self, ["decode_data", bytes(buffer).decode("latin-1"), end_stream])


# ---- 5. body writes keep framing right -----------------------------------------------------

class BodySetInHeaders(Filter):
    """request_body.set(b"x") from decode_headers: "sync", "async" (after a real wait) or
    "thread" (from a thread after RUNNING)."""

    def decode_headers(self, headers, end_stream):
        if self.config == "sync":
            self.request_body.set(b"x")
            return None
        if self.config == "async":
            return self._async()
        _pool.submit(self._work)
        return Status.RUNNING

    async def _async(self):
        await asyncio.sleep(0.01)
        self.request_body.set(b"x")

    def _work(self):
        # A thread has nobody to raise to: if the write is refused, it answers 500 itself.
        try:
            self.request_body.set(b"x")
        except Exception as e:
            record(self, f"set raised {type(e).__name__}")
            self.callbacks.send_local_reply(500, body=b"set refused\n")
            return
        self.callbacks.continue_request()


class StreamResize(Filter):
    """decode_headers CONTINUE; decode_data streams, changing each chunk: "wrap" ([chunk],
    length changes) or "upper" (length kept)."""

    def decode_headers(self, headers, end_stream):
        headers["x-resize"] = self.config

    def decode_data(self, buffer, end_stream):
        data = bytes(buffer)
        record(self, data.decode("latin-1"))
        buffer.set(b"[" + data + b"]" if self.config == "wrap" else data.upper())


# ---- 6. async data hooks see each byte once --------------------------------------------------

class WrapSync(Filter):
    """Wraps each request body chunk in [ ] and records it as the hook saw it."""

    def decode_headers(self, headers, end_stream):
        headers.remove("content-length")

    def _wrap(self, buffer):
        data = bytes(buffer)
        record(self, data.decode("latin-1"))
        buffer.set(b"[" + data + b"]")

    def decode_data(self, buffer, end_stream):
        self._wrap(buffer)


class WrapAsync(WrapSync):
    """The same as `async def`: "async0" awaits sleep(0) first, "async1ms" sleep(0.001),
    "gated": the first chunk waits until the test opens the gate (while the client sends the
    rest of the body)."""

    async def decode_data(self, buffer, end_stream):
        if self.config == "async0":
            await asyncio.sleep(0)
        elif self.config == "async1ms":
            await asyncio.sleep(0.001)
        elif not getattr(self, "_gated", False):
            self._gated = True
            record(self, "<gate>")
            await asyncio.wait_for(asyncio.wrap_future(_gate), 10)
        self._wrap(buffer)


# ---- 7. a coroutine yielding in a loop does not starve its worker ---------------------------

class Spin(Filter):
    """Loops on `await asyncio.sleep(0)` until SPIN_STOP is set. On its first iteration it
    tells the test (a TCP connection to the port in the config) that it is spinning. Gives up
    after 20 s as a safety net for the rest of the suite (answering 504)."""

    async def decode_headers(self, headers, end_stream):
        with socket.create_connection(("127.0.0.1", int(self.config)), timeout=5) as s:
            s.sendall(b"spinning\n")
        n = 0
        give_up = time.monotonic() + 20
        while not SPIN_STOP.is_set():
            await asyncio.sleep(0)
            n += 1
            if n % 1000 == 0 and time.monotonic() > give_up:
                return self.callbacks.send_local_reply(504, body=b"never unspun\n")
        headers["x-spins"] = str(n)


class Unspin(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-spinning-when-served"] = str(not SPIN_STOP.is_set())
        SPIN_STOP.set()


# ---- 8. other ----------------------------------------------------------------------------

class BareInt(Filter):
    def decode_headers(self, headers, end_stream):
        return 1  # an int, not a Status


class Drain(Filter):
    """"buffered:<n>" drains the whole buffered body at the end, "stream:<n>" each chunk;
    <n> is -1 or "huge" (more than the body)."""

    def decode_headers(self, headers, end_stream):
        # "buffered": hold the headers for the whole body (its length then changes freely)
        return Status.STOP_AND_BUFFER if self.config.startswith("buffered") else None

    def decode_data(self, buffer, end_stream):
        mode, _, n = self.config.partition(":")
        if mode == "buffered" and not end_stream:
            return Status.STOP_AND_BUFFER
        try:
            buffer.drain(-1 if n == "-1" else 1 << 40)
        except Exception as e:
            record(self, f"drain raised {type(e).__name__}: {e}")
            raise


class BufferEachChunk(Filter):
    """decode_data returns STOP_AND_BUFFER on every call; reports its calls in x-data-calls."""

    def decode_data(self, buffer, end_stream):
        self.__dict__.setdefault("calls", []).append([len(buffer), end_stream])
        return Status.STOP_AND_BUFFER

    def decode_trailers(self, trailers):
        self.__dict__.setdefault("calls", []).append("trailers")

    def encode_headers(self, headers, end_stream):
        headers["x-data-calls"] = json.dumps(self.__dict__.get("calls", []))


class AppendInTrailers(Filter):
    """decode_trailers appends b"X" to the request body (streamed, never buffered)."""

    def decode_trailers(self, trailers):
        self.request_body.append(b"X")


class AppendInTrailersStreaming(AppendInTrailers):
    def decode_data(self, buffer, end_stream):
        return None


class RaiseInEncodeHeaders(Filter):
    def encode_headers(self, headers, end_stream):
        raise RuntimeError("boom in encode_headers")


class RaiseInLaterEncodeData(Filter):
    """Lets the first response chunk through; raises on the one containing b"part2"."""

    def encode_data(self, buffer, end_stream):
        if b"part2" in bytes(buffer):
            raise RuntimeError("boom in encode_data after the headers went out")
