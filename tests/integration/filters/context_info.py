"""Filters reading self.stream_info and self.get_property (tests/integration/test_context_info.py).

Info records what it saw under the request's x-tag; Report answers with that record once the
stream it describes was destroyed (an event, no polling)."""

import asyncio
import json
import threading
from collections import defaultdict

from envoy_pyext import Counter, Filter, Status, StreamDestroyedError

_lock = threading.Lock()
records: dict = {}
done: defaultdict = defaultdict(threading.Event)

PROPERTIES = ("request.time", "request.duration", "request.method", "request.path",
              "request.protocol", "request.id", "source.address", "source.port",
              "destination.address", "destination.port", "connection.id", "connection.mtls",
              "xds.route_name", "xds.cluster_name", "xds.virtual_host_name", "response.code",
              "upstream.address", "connection.tls_version", "request.size", "health_check")


def _jsonable(v):
    if hasattr(v, "isoformat"):
        return ["datetime", v.isoformat()]
    if hasattr(v, "total_seconds"):
        return ["timedelta", v.total_seconds()]
    return v


def snapshot(f: Filter) -> dict:
    si = f.stream_info
    tls = si.tls
    return {
        "route_name": si.route_name, "virtual_host_name": si.virtual_host_name,
        "cluster_name": si.cluster_name, "protocol": si.protocol,
        "response_code": si.response_code, "response_code_details": si.response_code_details,
        "response_flags": si.response_flags, "request_id": si.request_id,
        "connection_id": si.connection_id,
        "downstream_remote_address": si.downstream_remote_address,
        "downstream_local_address": si.downstream_local_address,
        "downstream_direct_remote_address": si.downstream_direct_remote_address,
        "upstream_host": si.upstream_host, "upstream_local_address": si.upstream_local_address,
        "upstream_hosts_attempted": si.upstream_hosts_attempted,
        "attempt_count": si.attempt_count, "worker_index": si.worker_index,
        "bytes_received": si.bytes_received, "bytes_sent": si.bytes_sent,
        "start_time": si.start_time.timestamp() if si.start_time else None,
        "start_tz": str(si.start_time.tzinfo) if si.start_time else None,
        "duration": si.duration,
        "tls": None if tls is None else {
            k: getattr(tls, k) for k in (
                "sni", "version", "peer_certificate_presented", "peer_certificate_validated",
                "peer_subject", "local_subject", "peer_uri_sans", "peer_dns_sans",
                "sha256_peer_certificate_digest")},
        "props": {p: _jsonable(f.get_property(p)) for p in PROPERTIES},
        "default": f.get_property("upstream.address", "none-yet"),
        "thread": threading.get_ident(),
    }


class Info(Filter):
    """x-tag names the record; x-mode: sync (default), async (a coroutine that leaves the
    worker), thread (Status.RUNNING and a thread)."""

    seen_streams = Counter("ctx_info_streams")

    def decode_headers(self, headers, end_stream):
        self.tag = headers.get("x-tag", "-")
        self.seen = {"worker": threading.get_ident()}
        mode = headers.get("x-mode", "sync")
        if mode == "async":
            return self._decode_async()
        if mode == "thread":
            threading.Thread(target=self._decode_thread).start()
            return Status.RUNNING
        self.seen["decode"] = snapshot(self)
        return None

    async def _decode_async(self):
        self.seen["decode"] = snapshot(self)            # the first step: on the worker
        await asyncio.sleep(0.001)                      # a timer: the rest runs on the loop
        self.seen["decode_pending"] = snapshot(self)

    def _decode_thread(self):
        self.seen["decode_pending"] = snapshot(self)
        try:
            self.get_property("no.such.thing")
        except ValueError as e:
            self.seen["unknown"] = str(e)[:40]
        self.callbacks.continue_request()

    def encode_headers(self, headers, end_stream):
        self.seen["encode"] = snapshot(self)

    def on_log(self):
        self.seen["log"] = snapshot(self)
        self.kept = self.stream_info
        self.kept_callbacks = self.callbacks
        self.seen_streams.inc()

    def on_destroy(self):
        try:
            self.kept.route_name
        except StreamDestroyedError:
            self.seen["after_destroy"] = "StreamDestroyedError"
        try:
            self.get_property("request.path")
        except StreamDestroyedError:
            self.seen["property_after_destroy"] = "StreamDestroyedError"
        # Everything of the Envoy context raises StreamDestroyedError once the stream is gone.
        context = {
            "metadata.get": lambda: self.metadata.get("ns", "k"),
            "metadata.set": lambda: self.metadata.set("ns", "k", "v"),
            "filter_state.get": lambda: self.filter_state.get("k"),
            "filter_state.set": lambda: self.filter_state.set("k", "v"),
            "filter_state.get_object": lambda: self.filter_state.get_object("k"),
            "route_config": lambda: self.route_config,
            "clear_route_cache": lambda: self.kept_callbacks.clear_route_cache(),
            "counter.inc": lambda: self.seen_streams.inc(),
        }
        self.seen["context_after_destroy"] = {}
        for name, use in context.items():
            try:
                use()
                self.seen["context_after_destroy"][name] = "no error"
            except StreamDestroyedError:
                self.seen["context_after_destroy"][name] = "StreamDestroyedError"
        with _lock:
            records[self.tag] = self.seen
        done[self.tag].set()


class Report(Filter):
    """Answers with the record of x-tag once that stream was destroyed."""

    def decode_headers(self, headers, end_stream):
        tag = headers.get("x-tag", "-")

        def answer():
            if not done[tag].wait(30):
                self.callbacks.send_local_reply(504, body=b"no record\n")
                return
            with _lock:
                body = json.dumps(records[tag])
            self.callbacks.send_local_reply(200, body=body)

        threading.Thread(target=answer).start()
        return Status.RUNNING

