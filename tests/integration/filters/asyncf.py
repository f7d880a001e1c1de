"""Scenario filters for the asynchronous tests (coroutines and threads)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import envoy_pyext
from envoy_pyext import Filter, Status, StreamDestroyedError

# What the filters observed, read by tests through the Report filter.
observed = {"cancelled": 0, "destroyed_error": 0, "on_destroy": 0, "thread_ids": set()}
_lock = threading.Lock()


def bump(key: str) -> None:
    with _lock:
        observed[key] += 1


# Barriers for the concurrency tests: a request carrying `x-barrier: <key>:<n>` is held until n
# requests with that key have arrived, so that "n were pending at once" does not depend on the
# machine's speed. A barrier that is never complete gives up after 30 s (the test then fails on
# its pending_peak check instead of hanging).
_thread_barriers: dict = {}
_async_barriers: dict = {}   # touched only on the runtime's event-loop thread


def _barrier_of(headers):
    spec = headers.get("x-barrier")
    if not spec:
        return None
    key, _, n = spec.rpartition(":")
    return key, int(n)


def thread_barrier(key: str, n: int) -> bool:
    """Blocks the calling thread until n threads arrived with `key` (bounded)."""
    with _lock:
        st = _thread_barriers.setdefault(key, [0, threading.Event()])
        st[0] += 1
        if st[0] >= n:
            st[1].set()
    return st[1].wait(30)


async def _arrive(key: str, n: int) -> None:
    st = _async_barriers.get(key)
    if st is None:
        st = _async_barriers[key] = [0, asyncio.Event()]
    st[0] += 1
    if st[0] >= n:
        st[1].set()
    await asyncio.wait_for(st[1].wait(), 30)


async def async_barrier(key: str, n: int) -> None:
    """Suspends the calling coroutine until n coroutines arrived with `key` (bounded). The
    bookkeeping runs on the runtime's event-loop thread whichever thread steps the caller."""
    cf = asyncio.run_coroutine_threadsafe(_arrive(key, n), envoy_pyext.event_loop())
    await asyncio.wrap_future(cf)


class AsyncSleep(Filter):
    """Awaits asyncio.sleep(filter_config seconds) in the request and the response path."""

    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(float(self.config or 0.05))
        barrier = _barrier_of(headers)
        if barrier is not None:
            await async_barrier(*barrier)
        headers["x-async"] = "request"
        self.user = headers.get("x-user", "nobody")

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0)
        headers["x-async"] = f"response:{self.user}"


_pool = ThreadPoolExecutor(max_workers=128, thread_name_prefix="pyext-test")


class ThreadWork(Filter):
    """Hands the request to a worker pool; the pool thread edits headers and continues."""

    def decode_headers(self, headers, end_stream):
        _pool.submit(self.work)
        return Status.RUNNING

    def work(self):
        try:
            h = self.request_headers
            barrier = _barrier_of(h)
            if barrier is not None:
                thread_barrier(*barrier)  # after the hook returned RUNNING (h was readable)
            else:
                threading.Event().wait(0.2)  # stand-in for blocking work
            h["x-thread"] = h.get("x-user", "nobody")
            with _lock:
                observed["thread_ids"].add(threading.get_ident())
            if h.get("x-deny"):
                self.callbacks.send_local_reply(403, body=b"denied by a thread\n")
            else:
                self.callbacks.continue_request()
        except StreamDestroyedError:
            bump("destroyed_error")


class AsyncRewrite(Filter):
    """Rewrites headers and the buffered body after an await, both directions. The headers
    hooks hold the headers (STOP_AND_BUFFER) so that content-length follows the rewrite."""

    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    async def decode_data(self, buffer, end_stream):
        await asyncio.sleep(0.01)
        body = bytes(buffer)
        buffer.set(body.replace(b"hello", b"HELLO, ASYNC WORLD"))
        self.request_headers["x-rewritten"] = hashlib.sha256(body).hexdigest()
        self.request_headers.add("x-order", "1")
        self.request_headers.add("x-order", "2")
        self.request_headers.remove("x-drop-me")

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0.01)
        headers["x-response-rewritten"] = "yes"
        return Status.STOP_AND_BUFFER

    async def encode_data(self, buffer, end_stream):
        await asyncio.sleep(0.01)
        buffer.set(b"[" + bytes(buffer) + b"]")


class AsyncCancel(Filter):
    """Never finishes on its own: the client gives up, Envoy destroys the stream."""

    async def decode_headers(self, headers, end_stream):
        self.headers = headers
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            bump("cancelled")
            raise

    def on_destroy(self):
        bump("on_destroy")
        try:
            self.headers.get("x-user")
        except StreamDestroyedError:
            bump("destroyed_error")


class PendingThenBody(Filter):
    """The request headers hook is pending while the client streams the body; decode_data
    must then see every byte, in order."""

    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(float(self.config or 0.3))

    def decode_data(self, buffer, end_stream):
        if not hasattr(self, "digest"):
            self.digest = hashlib.sha256()
            self.seen = 0
        chunk = bytes(buffer)
        self.digest.update(chunk)
        self.seen += len(chunk)

    def encode_headers(self, headers, end_stream):
        headers["x-filter-saw"] = f"{getattr(self, 'seen', 0)}:" + (
            self.digest.hexdigest() if hasattr(self, "digest") else "")


class StreamUpper(Filter):
    """Upper-cases both bodies chunk by chunk, never holding a whole body."""

    def decode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).upper())

    def encode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).upper())


class AsyncStreamUpper(Filter):
    """The same, with an await in every chunk: chunks that arrive meanwhile wait in Envoy and
    reach the hook in order."""

    async def decode_data(self, buffer, end_stream):
        await asyncio.sleep(0)
        buffer.set(bytes(buffer).upper())

    async def encode_data(self, buffer, end_stream):
        await asyncio.sleep(0)
        buffer.set(bytes(buffer).upper())


class AsyncRaises(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.01)
        if headers.get("x-raise-in") == "decode_headers":
            raise RuntimeError("async boom in decode_headers")

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0.01)
        if self.request_headers.get("x-raise-in") == "encode_headers":
            raise RuntimeError("async boom in encode_headers")


class AsyncRaisesOpen(AsyncRaises):
    fail_open = True


class AsyncNoSuspend(Filter):
    """async def that never awaits anything that suspends: runs inline on the worker."""

    async def decode_headers(self, headers, end_stream):
        headers["x-inline"] = "1"

    async def encode_headers(self, headers, end_stream):
        headers["x-inline"] = str(threading.current_thread() is threading.main_thread())


class AsyncLocalReply(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.01)
        return self.callbacks.send_local_reply(429, body=b"slow down\n",
                                               headers={"retry-after": "1"})


class Report(Filter):
    """Answers with the runtime's counters and what the filters above observed."""

    def decode_headers(self, headers, end_stream):
        if headers.get(":path") == "/reset-peak":
            envoy_pyext.reset_pending_peak()
        with _lock:
            data = {**envoy_pyext.stats(),
                    **{k: v for k, v in observed.items() if k != "thread_ids"},
                    "threads": len(observed["thread_ids"])}
        return self.callbacks.send_local_reply(200, body=json.dumps(data),
                                               headers={"content-type": "application/json"})


class AsyncSlowBody(Filter):
    """Each body chunk waits on a slow lookup: a client that hangs up mid-body finds the
    data hook pending. The headers wait for the body (nothing half-done goes upstream)."""

    def decode_headers(self, headers, end_stream):
        return Status.STOP_NO_BUFFER

    async def decode_data(self, buffer, end_stream):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            bump("cancelled")
            raise


class _Later:
    """An awaitable that is not a coroutine (a hand-written __await__)."""

    def __await__(self):
        yield from asyncio.sleep(0.01).__await__()
        return None


class AwaitableReturn(Filter):
    """A plain def hook that returns an awaitable; on_log is async (runs detached)."""

    def decode_headers(self, headers, end_stream):
        headers["x-awaitable"] = "1"
        return _Later()

    async def on_log(self):
        user = self.request_headers.get("x-user")  # before the first await: still inline
        await asyncio.sleep(0)
        with _lock:
            observed.setdefault("async_on_log", []).append(user)


class YieldThenWait(Filter):
    """Bare yields (stepped on the worker) mixed with real waits (on the loop thread): every
    write lands, in order."""

    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0)
        headers.add("x-steps", "after-yield")
        await asyncio.sleep(0.01)
        headers.add("x-steps", "after-wait")
        await asyncio.sleep(0)
        headers.add("x-steps", "after-second-yield")
