"""Filters for tests/unit/test_testing.py (FilterTester's own behaviour)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

from envoy_pyext import Filter, Status

log = logging.getLogger("testing_filters")


class Views(Filter):
    """Records the types and behaviour of the views it gets."""

    def decode_headers(self, headers, end_stream):
        self.types = (type(headers).__mro__, type(self.callbacks).__mro__,
                      type(self.request_body).__mro__)
        self.errors = {}
        for label, call in (("bad_name", lambda: headers.set("bad name", "v")),
                            ("bad_value", lambda: headers.set("x-bad", "a\r\nb")),
                            ("empty", lambda: headers.set("x-empty", "")),
                            ("bool", lambda: headers.set("x-bool", True)),
                            ("body_in_headers", lambda: self.request_body.set(b"x")),
                            ("response_map", lambda: self.response_headers.set("x-a", "1")),
                            ("trailers_map", lambda: self.request_trailers.set("x-a", "1"))):
            try:
                call()
                self.errors[label] = None
            except Exception as e:
                self.errors[label] = f"{type(e).__name__}: {e}"
        headers["x-int"] = 42
        headers["x-bytes"] = b"\xff\xfe"
        self.raw = headers.get_bytes("x-bytes")
        self.text = headers.get("x-bytes")
        headers["x-copy"] = self.text            # surrogateescape round trip
        self.kept_headers = headers

    def decode_data(self, buffer, end_stream):
        if not len(buffer):
            return
        view = memoryview(buffer)
        self.view = (view.readonly, bytes(view))
        view.release()
        try:
            memoryview(buffer).cast("B")[0:1] = b"x"
        except TypeError as e:
            self.write_error = type(e).__name__


class Logs(Filter):
    def decode_headers(self, headers, end_stream):
        self.callbacks.log("info", "hello from the filter")
        self.callbacks.log(logging.WARNING, "careful")
        log.info("via logging")


class EarlyContinue(Filter):
    def decode_headers(self, headers, end_stream):
        self.callbacks.continue_request()
        return Status.RUNNING


class NeverContinues(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.RUNNING


class NeverFinishes(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.Event().wait()


class NamedTask(Filter):
    async def decode_headers(self, headers, end_stream):
        headers["x-task"] = asyncio.current_task().get_name()


class ContinueTwice(Filter):
    def decode_headers(self, headers, end_stream):
        def work():
            self.callbacks.continue_request()
            try:
                self.callbacks.continue_request()
            except Exception as e:
                self.second = f"{type(e).__name__}: {e}"
        threading.Thread(target=work).start()
        return Status.RUNNING


class WrongThread(Filter):
    """A thread uses the request headers while no hook runs: WrongThreadError (the test's
    upstream waits for it); after the stream ended: StreamDestroyedError."""

    def decode_headers(self, headers, end_stream):
        self.go = threading.Event()
        self.done = threading.Event()
        self.results = []

        def other():
            for _ in range(2):
                self.go.wait(10)
                self.go.clear()
                try:
                    headers.get("x-a")
                    self.results.append("ok")
                except Exception as e:
                    self.results.append(type(e).__name__)
                self.done.set()
        self.thread = threading.Thread(target=other)
        self.thread.start()


class Lifecycle(Filter):
    order: list[str] = []

    def __init__(self):
        self.events = ["init", f"config={self.config}"]

    def decode_headers(self, headers, end_stream):
        self.events.append("decode_headers")

    def encode_headers(self, headers, end_stream):
        self.events.append("encode_headers")

    def on_log(self):
        self.events.append("on_log")
        self.events.append(f"on_log sees {self.request_headers.get(':path')}")

    def on_destroy(self):
        self.events.append("on_destroy")
        try:
            self.request_headers.get(":path")
        except Exception as e:
            self.events.append(type(e).__name__)


class Callouts(Filter):
    async def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode", "ok")
        try:
            if mode == "gather":
                rs = await asyncio.gather(self.http_call("svc", path="/a"),
                                          self.http_call("svc", path="/b"))
                headers["x-result"] = ",".join(r.body.decode() for r in rs)
                return None
            r = await self.http_call(headers.get("x-cluster", "svc"), "POST",
                                     headers.get("x-call-path", "/a"),
                                     headers={"x-k": "v"}, body=b"ping", timeout=0.2,
                                     max_response_bytes=10)
            headers["x-result"] = f"{r.status} {r.body.decode()} {r.get('x-from', '-')}"
        except Exception as e:
            headers["x-result"] = type(e).__name__
        return None


class BufferLimit(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-limit"] = self.callbacks.buffer_limit
        self.callbacks.buffer_limit = 8 << 20
        headers["x-limit-after"] = self.callbacks.buffer_limit
        headers["x-worker"] = self.callbacks.worker_index


class JsonConfig(Filter):
    @classmethod
    def parse_config(cls, raw):
        return json.loads(raw)

    def decode_headers(self, headers, end_stream):
        headers["x-config"] = json.dumps(self.config)


class RejectsConfig(Filter):
    @classmethod
    def parse_config(cls, raw):
        raise ValueError("no good")


class InitRaises(Filter):
    def __init__(self):
        raise RuntimeError("init boom")


class StreamingCounter(Filter):
    def __init__(self):
        self.chunks = []

    def decode_data(self, buffer, end_stream):
        self.chunks.append((bytes(buffer), end_stream))


# ---- the Envoy context (tests/unit/test_testing_context.py) --------------------------------

from envoy_pyext import Counter, Gauge, Histogram  # noqa: E402


class UnknownProperty(Filter):
    """Records the runtime's message for an unknown property (it lists every known name)."""
    message = ""

    def decode_headers(self, headers, end_stream):
        try:
            self.get_property("no.such.thing")
        except ValueError as e:
            type(self).message = str(e)


class Context(Filter):
    def decode_headers(self, headers, end_stream):
        si = self.stream_info
        self.seen = {
            "route": si.route_name, "cluster": si.cluster_name,
            "remote": si.downstream_remote_address,
            "direct": si.downstream_direct_remote_address, "upstream": si.upstream_host,
            "attempts": si.attempt_count, "code": si.response_code, "duration": si.duration,
            "tls": si.tls, "team": self.metadata.get("acme", "team", source="route"),
            "host_meta": self.metadata.get("acme", "zone", source="host"),
            "earlier": self.filter_state.get("acme.earlier"), "worker": si.worker_index,
            "start": si.start_time, "port": self.get_property("source.port"),
            "route_config": self.route_config,
        }

    def encode_headers(self, headers, end_stream):
        si = self.stream_info
        self.seen_response = {"code": si.response_code, "upstream": si.upstream_host,
                              "host_meta": self.metadata.get("acme", "zone", source="host"),
                              "received": si.bytes_received}

    def on_log(self):
        si = self.stream_info
        self.seen_log = {"duration": si.duration, "sent": si.bytes_sent,
                         "details": si.response_code_details,
                         "request.duration": self.get_property("request.duration")}


class Tls(Filter):
    def decode_headers(self, headers, end_stream):
        t = self.stream_info.tls
        self.tls = (t.version, t.sni, t.peer_certificate_presented, t.peer_dns_sans)


class AsyncMetadata(Filter):
    async def decode_headers(self, headers, end_stream):
        before = self.metadata.get("acme", "team", source="route")  # on the worker still
        await asyncio.sleep(0.001)                                   # leaves the worker
        try:
            self.metadata.get("acme", "team", source="route")
            after = "read"
        except Exception as e:
            after = type(e).__name__
        self.metadata.set("acme", "written", "late")                 # writes are fine
        headers["x-meta"] = f"{before}|{after}"


class Measured(Filter):
    requests = Counter("requests_total", labels=("code",))
    inflight = Gauge("inflight")
    latency = Histogram("latency_ms")

    def decode_headers(self, headers, end_stream):
        self.inflight.inc()
        if headers.get("x-bad-label"):
            self.requests.inc(nope="x")

    def on_log(self):
        self.requests.inc(code=self.stream_info.response_code or 0)
        self.inflight.dec()
        self.latency.record(12.6)


class TwoMetricsOneName(Filter):
    a = Counter("x")
    b = Gauge("x")


class Routing(Filter):
    def decode_headers(self, headers, end_stream):
        self.callbacks.clear_route_cache()
        self.callbacks.set_upstream_override_host("10.0.0.7:8080", strict=True)
        self.callbacks.add_response_flag("PY_ROUTED")
        for bad in ("nohost", "1.2.3.4:0", "[::1]"):
            try:
                self.callbacks.set_upstream_override_host(bad)
            except ValueError:
                pass
            else:
                raise AssertionError(bad)

    def encode_headers(self, headers, end_stream):
        try:
            self.callbacks.set_upstream_override_host("10.0.0.8:80")
        except Exception as e:
            headers["x-late-override"] = type(e).__name__


class PerRoute(Filter):
    @classmethod
    def parse_config(cls, raw):
        return json.loads(raw or "{}")

    @classmethod
    def parse_route_config(cls, raw):
        cfg = json.loads(raw)
        if "bad" in cfg:
            raise ValueError("bad route config")
        return cfg

    @classmethod
    def merge_route_config(cls, base, override):
        return {**base, **override}

    def decode_headers(self, headers, end_stream):
        headers["x-route-config"] = json.dumps(self.route_config)
