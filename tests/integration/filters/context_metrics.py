"""Filters with Envoy metrics (tests/integration/test_context_metrics.py)."""

import asyncio
import threading

from envoy_pyext import Counter, Filter, Gauge, Histogram, Status

queued = threading.Event()      # the hang coroutine queued its update


class Observe(Filter):
    """x-mode: sync (default), async (updates from a coroutine that left the worker), thread
    (updates from a RUNNING thread), hang (updates, then waits until the client goes away)."""

    requests = Counter("ctx_requests_total", labels=("route", "code"))
    inflight = Gauge("ctx_inflight")
    level = Gauge("ctx_level", labels=("mode",))
    latency = Histogram("ctx_latency_ms", labels=("route",))
    pending_updates = Counter("ctx_pending_updates", labels=("mode",))

    def decode_headers(self, headers, end_stream):
        self.inflight.inc()
        self.level.set(7, mode="sync")
        mode = headers.get("x-mode", "sync")
        errors = []
        for bad in (lambda: self.requests.inc(route="r"),                 # a label missing
                    lambda: self.requests.inc(route="r", code="1", x="2"),  # one too many
                    lambda: self.requests.inc(-1, route="r", code="1"),     # negative
                    lambda: self.requests.inc(1.5, route="r", code="1"),    # not an int
                    lambda: self.requests.inc(route=None, code="1"),        # not a str
                    lambda: self.latency.record("fast", route="r")):
            try:
                bad()
            except (TypeError, ValueError) as e:
                errors.append(type(e).__name__)
        self.errors = ",".join(errors)
        if mode == "async":
            return self._later()
        if mode == "thread":
            threading.Thread(target=self._thread).start()
            return Status.RUNNING
        if mode == "hang":
            return self._hang()
        return None

    async def _later(self):
        await asyncio.sleep(0.001)      # on the loop thread: queued, applied at resume
        self.pending_updates.inc(mode="async")
        self.level.set(3, mode="async")

    def _thread(self):
        self.pending_updates.inc(2, mode="thread")
        self.callbacks.continue_request()

    async def _hang(self):
        await asyncio.sleep(0.001)
        self.pending_updates.inc(mode="hang")    # queued; the stream dies before resuming
        queued.set()
        await asyncio.Event().wait()

    def encode_headers(self, headers, end_stream):
        headers["x-errors"] = self.errors

    def on_log(self):
        si = self.stream_info
        self.requests.inc(route=si.route_name or "-", code=si.response_code or 0)
        self.inflight.dec()
        self.latency.record((si.duration or 0) * 1000, route=si.route_name or "-")


class Queued(Filter):
    """Answers once the hang coroutine queued its update (an event, no polling)."""

    def decode_headers(self, headers, end_stream):
        def answer():
            ok = queued.wait(30)
            self.callbacks.send_local_reply(200 if ok else 504)

        threading.Thread(target=answer).start()
        return Status.RUNNING


class Twice(Filter):
    """Two metrics with one name and different labels: the configuration is refused."""

    a = Counter("ctx_twice", labels=("x",))
    b = Counter("ctx_twice", labels=("y",))
