"""Filters for tests/integration/test_faults.py (fault matrix, threads after destroy, errors
after an await) and test_generated.py (hypothesis-generated traffic).

What a filter observes is recorded under its request's x-id header and read back by the test
through the FaultControl filter. Gates are per x-id concurrent futures: a held hook waits on
its gate (asyncio.wrap_future, or .result() in a thread) until the test opens it.

Importing this module DISABLES Python's cyclic garbage collector in the Envoy process (this
module is only loaded by the Envoys of those two test modules): a Filter that only a
gc.collect() could free would stay alive, and the tests see it (live_filters, weakrefs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import threading
import weakref

import envoy_pyext
from envoy_pyext import Filter, Status, StreamDestroyedError, WrongThreadError

gc.disable()

_lock = threading.Lock()
seen: dict[str, list] = {}
_gates: dict[str, concurrent.futures.Future] = {}
_threads: dict[str, threading.Thread] = {}
_refs: dict[str, weakref.ref] = {}
_results: dict[str, dict] = {}


def gate(key: str) -> concurrent.futures.Future:
    with _lock:
        return _gates.setdefault(key, concurrent.futures.Future())


def open_gate(key: str) -> None:
    g = gate(key)
    if not g.done():
        g.set_result(None)


def note(key: str, event) -> None:
    with _lock:
        seen.setdefault(key, []).append(event)


def _xid(f: Filter) -> str:
    return f.request_headers.get("x-id", "")


class FaultControl(Filter):
    """GET /seen (x-id) -> {"stats", "seen", "result", "filter_alive"}; /open (x-id) opens
    that gate first; /join (x-id) first waits (bounded) for that x-id's hammer thread."""

    async def decode_headers(self, headers, end_stream):
        path, key = headers.get(":path"), headers.get("x-id", "")
        if path == "/open":
            open_gate(key)
        elif path == "/join":
            t = _threads.get(key)
            if t is not None:
                await asyncio.to_thread(t.join, 30)
        with _lock:
            ref = _refs.get(key)
            data = {"stats": envoy_pyext.stats(), "seen": seen.get(key, []),
                    "result": _results.get(key),
                    "filter_alive": None if ref is None else ref() is not None}
        return self.callbacks.send_local_reply(200, body=json.dumps(data),
                                               headers={"content-type": "application/json"})


# ---- faults while a hook is pending ----------------------------------------------------------

HELD_HOOKS = ("decode_headers", "decode_data", "encode_headers", "encode_data")


class Hold(Filter):
    """The hook named by x-hold-in waits on the x-id gate: as a coroutine (x-mode: async) or
    in a thread after Status.RUNNING (x-mode: thread). Records "held:<hook>" when it starts to
    wait, then "cancelled" (the coroutine saw CancelledError), "released", or "destroyed" (the
    thread's continue_*() raised StreamDestroyedError)."""

    def _setup(self, headers):
        self._key = headers.get("x-id", "")
        self._hold_in = headers.get("x-hold-in", "")
        self._mode = headers.get("x-mode", "async")
        self._held = False

    def _hold(self, hook: str):
        if hook != self._hold_in or self._held:
            return None
        self._held = True
        note(self._key, f"held:{hook}")
        if self._mode == "thread":
            cb = self.callbacks
            resume = cb.continue_request if hook.startswith("decode") else cb.continue_response
            threading.Thread(target=self._thread, args=(resume,)).start()
            return Status.RUNNING
        return self._wait()

    async def _wait(self):
        try:
            if self.request_headers.get("x-hold-for"):   # a fixed time instead of the gate
                await asyncio.sleep(float(self.request_headers.get("x-hold-for")))
            else:
                await asyncio.wrap_future(gate(self._key))
        except asyncio.CancelledError:
            note(self._key, "cancelled")
            raise
        note(self._key, "released")

    def _thread(self, resume):
        gate(self._key).result(60)
        try:
            resume()
            note(self._key, "released")
        except StreamDestroyedError:
            note(self._key, "destroyed")

    def decode_headers(self, headers, end_stream):
        self._setup(headers)
        return self._hold("decode_headers")

    def decode_data(self, buffer, end_stream):
        return self._hold("decode_data")

    def encode_headers(self, headers, end_stream):
        return self._hold("encode_headers")

    def encode_data(self, buffer, end_stream):
        return self._hold("encode_data")


class AsyncRaising(Filter):
    """Every hook is a coroutine; the one named by x-raise-in raises after a real await (its
    rest runs on the event-loop thread)."""

    async def _maybe(self, hook: str):
        await asyncio.sleep(0.001)
        if self._where == hook:
            raise RuntimeError(f"async boom in {hook}")

    async def decode_headers(self, headers, end_stream):
        self._where = headers.get("x-raise-in")
        await self._maybe("decode_headers")

    async def decode_data(self, buffer, end_stream):
        await self._maybe("decode_data")

    async def decode_trailers(self, trailers):
        await self._maybe("decode_trailers")

    async def encode_headers(self, headers, end_stream):
        await self._maybe("encode_headers")
        headers["x-raising-saw-response"] = "1"

    async def encode_data(self, buffer, end_stream):
        await self._maybe("encode_data")

    async def encode_trailers(self, trailers):
        await self._maybe("encode_trailers")

    async def on_log(self):
        await self._maybe("on_log")

    async def on_destroy(self):
        await self._maybe("on_destroy")


class RaiseAfterCancel(Filter):
    """decode_headers waits forever; when its stream goes away it turns the CancelledError
    into another exception (an error raised after an await, by an abandoned hook)."""

    async def decode_headers(self, headers, end_stream):
        key = headers.get("x-id", "")
        note(key, "held:decode_headers")
        try:
            await asyncio.wrap_future(gate(key))
        except asyncio.CancelledError:
            note(key, "cancelled")
            raise RuntimeError("raised while being cancelled") from None


# ---- threads that go on after their stream ended ---------------------------------------------

class Releaser(Filter):
    """First in the Hammered listener's chain. Its on_destroy runs when Envoy destroys the
    stream's filters, before the Hammer's: the stream is complete, the Hammer not yet
    destroyed. There it lets the Hammer's thread run its calls and waits for them."""

    def decode_headers(self, headers, end_stream):
        self._key = headers.get("x-id", "")

    def on_destroy(self):
        key = self._key
        open_gate(key + "/complete")
        gate(key + "/window-done").result(30)


# What a thread tries on its Filter after the stream ended; each must raise
# StreamDestroyedError.
def _calls(f: Filter, headers, body, callbacks) -> dict:
    return {
        "continue_request": callbacks.continue_request,
        "continue_response": callbacks.continue_response,
        "send_local_reply": lambda: callbacks.send_local_reply(403),
        "request_headers": lambda: f.request_headers,
        "request_body": lambda: f.request_body,
        "response_body": lambda: f.response_body,
        "callbacks": lambda: f.callbacks,
        "headers.get": lambda: headers.get("x-id"),
        "headers.set": lambda: headers.set("x-late", "1"),
        "body.bytes": lambda: bytes(body),
        "body.append": lambda: body.append(b"late"),
    }


def _outcome(fn) -> str:
    try:
        fn()
        return "ok"
    except StreamDestroyedError:
        return "StreamDestroyedError"
    except WrongThreadError:
        return "WrongThreadError"
    except Exception as e:
        return type(e).__name__


class Hammer(Filter):
    """decode_headers returns RUNNING; its thread continues the request, then waits until the
    stream is complete (the Releaser's on_destroy) and calls every entry of _calls() `rounds`
    times in that window (complete, not destroyed), then as many times again after the stream
    was destroyed (x-id/destroyed, opened by the test). No on_log, no on_destroy: Envoy's
    stream-complete and destroy events do not even reach Python for this class."""

    def decode_headers(self, headers, end_stream):
        key = headers.get("x-id", "")
        rounds = int(headers.get("x-rounds", "100"))
        with _lock:
            _refs[key] = weakref.ref(self)
        t = threading.Thread(target=self._run, args=(key, rounds, headers, self.request_body,
                                                     self.callbacks))
        with _lock:
            _threads[key] = t
        t.start()
        return Status.RUNNING

    def _run(self, key, rounds, headers, body, callbacks):
        counts: dict = {"window": {}, "after": {}}
        try:
            callbacks.continue_request()
            calls = _calls(self, headers, body, callbacks)
            for phase, wait_for in (("window", "/complete"), ("after", "/destroyed")):
                gate(key + wait_for).result(30)
                c = counts[phase]
                for _ in range(rounds):
                    for name, fn in calls.items():
                        out = _outcome(fn)
                        c[f"{name}:{out}"] = c.get(f"{name}:{out}", 0) + 1
                if phase == "window":
                    open_gate(key + "/window-done")
        except BaseException as e:  # reported to the test
            counts["error"] = repr(e)
            open_gate(key + "/window-done")
        finally:
            with _lock:
                _results[key] = counts


# ---- generated traffic (test_generated.py) ---------------------------------------------------

class SetHeaders(Filter):
    """x-set: a JSON list of [hex name, hex value] pairs to add to the request headers through
    the API. Any refusal is answered 400 "refused: <error>"; otherwise the request goes on."""

    def decode_headers(self, headers, end_stream):
        pairs = json.loads(headers.get("x-set", "[]"))
        headers.remove("x-set")
        try:
            for name, value in pairs:
                headers.add(bytes.fromhex(name), bytes.fromhex(value))
        except (ValueError, TypeError) as e:
            return self.callbacks.send_local_reply(
                400, body=f"refused: {type(e).__name__}: {e}\n".encode("utf-8", "replace"))
        return None


class StreamSwap(Filter):
    """Streams both bodies chunk by chunk, swapping the case of ASCII letters in the request
    body (length preserving); with x-async the data hooks await between chunks. Records the
    chunk sizes the request data hook saw."""

    _SWAP = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    def decode_headers(self, headers, end_stream):
        self._async = headers.get("x-async") == "1"
        self._key = headers.get("x-id", "")

    def decode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).translate(self._SWAP))
        if self._async:
            return self._later()
        return None

    async def _later(self):
        await asyncio.sleep(0)

    def encode_data(self, buffer, end_stream):
        if self._async:
            return self._later()
        return None


class BufferCopy(Filter):
    """Buffers the whole request body and copies it into a request header-free trailer-free
    form: the body goes on unchanged, its length and a digest go upstream as headers."""

    def decode_headers(self, headers, end_stream):
        return None if end_stream else Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        if end_stream:
            data = bytes(buffer)
            self.request_headers["x-copied-len"] = str(len(data))
        return None


class Observe(Filter):
    """Records which hooks run, with their sizes and end_stream flags: under the request's
    x-id, or under "no-decode-headers" when encode_headers runs for a stream whose
    decode_headers never ran (Envoy's own replies to requests it refused)."""

    _key = None

    def decode_headers(self, headers, end_stream):
        self._key = headers.get("x-id", "")
        note(self._key, ["decode_headers", end_stream])

    def decode_data(self, buffer, end_stream):
        note(self._key, ["decode_data", len(buffer), end_stream])

    def encode_headers(self, headers, end_stream):
        if self._key is None:
            note("no-decode-headers", ["encode_headers", headers.get(":status")])
            return None
        note(self._key, ["encode_headers", end_stream])
        return None

    def encode_data(self, buffer, end_stream):
        if self._key is not None:
            note(self._key, ["encode_data", len(buffer), end_stream])
