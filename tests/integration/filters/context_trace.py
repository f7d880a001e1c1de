"""Filters using tracing, secrets and runtime values (tests/integration/test_context_trace.py,
test_context_secrets.py).

Traced: x-mode: sync / async (a coroutine after it left the worker) / thread (after RUNNING)
decides where the span is written; x-tag names the request. The span's ids and what the
filter saw go back in response headers (x-span: none when the stream is not traced).
"""

import asyncio
import threading

from envoy_pyext import Filter, Status


class Traced(Filter):
    def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode") or "sync"
        self.tag = headers.get("x-tag") or "-"
        if mode == "async":
            return self._later()
        if mode == "thread":
            threading.Thread(target=self._in_thread).start()
            return Status.RUNNING
        self._trace(mode)
        return None

    async def _later(self):
        await asyncio.sleep(0.001)      # leaves the worker: the writes are queued
        self._trace("async")

    def _in_thread(self):
        self._trace("thread")
        self.callbacks.continue_request()

    def _trace(self, mode):
        span = self.span
        self.seen = "none" if span is None else f"{span.trace_id}/{span.span_id}"
        if span is None:
            return
        span.set_tag("py.tag", self.tag)
        span.set_tag("py.mode", mode)
        span.log(f"py-event-{self.tag}")
        span.set_operation(f"py-op-{self.tag}")
        span.set_baggage("py-bag", "b1")
        with span.child(f"py-child-{self.tag}") as child:
            child.set_tag("child.tag", self.tag)
        if mode == "sync":
            self.baggage = str(span.get_baggage("py-bag"))

    def encode_headers(self, headers, end_stream):
        headers["x-span"] = self.seen
        span = self.span
        if span is not None:
            headers["x-trace-id"] = span.trace_id
        headers["x-baggage"] = getattr(self, "baggage", "-")
