"""Scenario filters for the integration tests. Each reports what it saw through headers the
test can read (on the upstream's copy of the request or on the response)."""

from __future__ import annotations

import hashlib
import json
import logging

import envoy_pyext
from envoy_pyext import Filter, Status, StreamDestroyedError

log = logging.getLogger("probe")


class HeaderProbe(Filter):
    """Exercises HeaderMap on requests and responses."""

    def decode_headers(self, headers, end_stream):
        seen = {
            "method": headers.get(":method"),
            "path": headers.get(":path"),
            "authority": headers.get(":authority"),
            "user": headers["x-user"] if "x-user" in headers else None,
            "User-Case": headers.get("X-USER"),
            "multi": headers.get_all("x-multi-in"),
            "missing": headers.get("x-missing", "default"),
            "len_positive": len(headers) > 3,
            "keys_lower": all(k == k.lower() for k in headers.keys()),
            "items_has_user": ("x-user", headers.get("x-user")) in headers.items(),
        }
        headers["x-seen"] = "1"
        headers.add("x-added", "a")
        headers.add("x-added", b"b")
        headers.set("x-replaced", "new")
        headers.remove("x-remove-me")
        if "x-del-me" in headers:
            del headers["x-del-me"]
        try:
            del headers["x-never-there"]
        except KeyError:
            seen["del_missing"] = "KeyError"
        for label, name, value in (("bad_name", "bad name", "v"), ("bad_cr", "x-bad", "a\rb"),
                                   ("bad_lf", "x-bad", "a\nb"), ("bad_nul", "x-bad", "a\x00b"),
                                   ("bad_colon", "x:bad", "v"), ("bad_empty", "", "v")):
            try:
                headers.set(name, value)
                seen[label] = "accepted"
            except ValueError:
                seen[label] = "ValueError"
        # Values that are not UTF-8 survive a round trip (surrogateescape).
        raw = headers.get("x-latin1")
        if raw is not None:
            headers["x-latin1-copy"] = raw
            seen["latin1_bytes"] = headers.get_bytes("x-latin1").hex()
        if headers.get("x-rewrite-path"):
            headers[":path"] = headers.get("x-rewrite-path")
        headers["x-probe"] = json.dumps(seen)
        self.user = seen["user"]

    def encode_headers(self, headers, end_stream):
        headers["x-status-seen"] = headers.get(":status")
        headers.add("x-filter", self.user or "nobody")
        for label, call in (("set", headers.set), ("add", headers.add)):
            try:
                call("x-empty", "")
                headers[f"x-empty-{label}"] = "accepted"
            except ValueError:
                headers[f"x-empty-{label}"] = "ValueError"
        headers.add("x-resp-multi", "1")
        headers.add("x-resp-multi", "2")
        headers.remove("x-upstream-only")
        if self.request_headers.get("x-set-status"):
            headers[":status"] = self.request_headers.get("x-set-status")


class BodyProbe(Filter):
    """Body handling; filter_config picks the mode."""

    def decode_headers(self, headers, end_stream):
        if self.config in ("grow", "upper-response"):  # allow 4 MiB bodies in Envoy
            self.callbacks.buffer_limit = 4 << 20
            headers["x-buffer-limit"] = str(self.callbacks.buffer_limit)
        if self.config not in ("stream-upper", "upper-response"):
            # Hold the headers until decode_data saw the whole body: it can then change them
            # and the runtime makes content-length match the rewritten body.
            return Status.STOP_AND_BUFFER
        return None

    def encode_headers(self, headers, end_stream):
        if self.config == "upper-response":
            return Status.STOP_AND_BUFFER
        return None

    def decode_data(self, buffer, end_stream):
        mode = self.config
        if mode == "stream-upper":  # chunk by chunk, nothing held back
            buffer.set(bytes(buffer).upper())
            return Status.CONTINUE
        if not end_stream:
            return Status.STOP_AND_BUFFER
        body = bytes(buffer)
        with memoryview(buffer) as view:
            digest = hashlib.sha256(view).hexdigest()
        # The request headers are still held here, so they can carry what the body told us.
        self.request_headers["x-body-sha256"] = digest
        self.request_headers["x-body-len"] = str(len(buffer))
        if mode == "upper":
            buffer.set(body.upper())
        elif mode == "append":
            buffer.append(b"-tail")
        elif mode == "prepend":
            buffer.prepend(b"head-")
        elif mode == "drain":
            buffer.drain(5)
        elif mode == "clear":
            buffer.clear()
        elif mode == "grow":
            buffer.set(body * 2)

    def encode_data(self, buffer, end_stream):
        if self.config != "upper-response":
            return None
        if not end_stream:
            return Status.STOP_AND_BUFFER
        buffer.set(bytes(buffer).upper() + b"!")


class HeadersThenBody(Filter):
    """STOP_AND_BUFFER from decode_headers: decode_data runs once with the whole body."""

    calls = 0

    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        self.calls += 1
        self.request_headers["x-data-calls"] = str(self.calls)
        self.request_headers["x-data-eos"] = str(end_stream)
        buffer.set(bytes(buffer).replace(b"a", b"A"))


class Replier(Filter):
    """Local replies from the request and response paths."""

    def decode_headers(self, headers, end_stream):
        path = headers.get(":path")
        if path == "/deny":
            return self.callbacks.send_local_reply(
                403, body="denied by probe\n",
                headers=[("x-reason", "probe"), ("x-reason", "second"),
                         ("content-type", "text/plain")],
                details="probe denied")
        if path == "/bad-reply-header":
            try:
                self.callbacks.send_local_reply(403, headers={"x-bad": "a\r\nb"})
            except ValueError as e:
                return self.callbacks.send_local_reply(400, body=f"ValueError: {e}")

    def encode_headers(self, headers, end_stream):
        if headers.get(":status") == "503":
            return self.callbacks.send_local_reply(502, body=b"upstream said 503\n",
                                                   headers={"x-replaced": "yes"})


class Raising(Filter):
    """Raises in the hook named by the request header x-raise-in."""

    def _maybe(self, hook):
        where = self.request_headers.get("x-raise-in") if hook != "on_destroy" else self._where
        if where == hook:
            raise RuntimeError(f"boom in {hook}")

    def decode_headers(self, headers, end_stream):
        self._where = headers.get("x-raise-in")
        self._maybe("decode_headers")

    def decode_data(self, buffer, end_stream):
        self._maybe("decode_data")

    def decode_trailers(self, trailers):
        self._maybe("decode_trailers")

    def encode_headers(self, headers, end_stream):
        self._maybe("encode_headers")
        headers["x-raising-saw-response"] = "1"

    def encode_data(self, buffer, end_stream):
        self._maybe("encode_data")

    def encode_trailers(self, trailers):
        self._maybe("encode_trailers")

    def on_log(self):
        self._maybe("on_log")

    def on_destroy(self):
        self._maybe("on_destroy")


class RaisingFailOpen(Raising):
    fail_open = True


class BadReturn(Filter):
    def decode_headers(self, headers, end_stream):
        return "yes please"


class Trailers(Filter):
    """Reads request trailers and response trailers, reports them."""

    def decode_trailers(self, trailers):
        self.seen = trailers.get("x-req-trailer")
        trailers["x-added-trailer"] = "from-filter"

    def encode_headers(self, headers, end_stream):
        headers["x-encode-headers-eos"] = str(end_stream)

    def encode_trailers(self, trailers):
        trailers["x-resp-trailer-seen"] = trailers.get("x-resp-trailer", "none")
        log.info("response trailers: %s", trailers.items())


_kept = []


class Keeper(Filter):
    """Keeps the views of one stream and uses them from the next: must raise, never crash."""

    def decode_headers(self, headers, end_stream):
        outcome = "no-previous"
        if _kept:
            old_headers, old_filter = _kept.pop()
            try:
                old_headers.get("x-user")
                outcome = "read-ok (wrong)"
            except StreamDestroyedError:
                outcome = "StreamDestroyedError"
            try:
                old_filter.callbacks.send_local_reply(200)
                outcome += ",reply-ok (wrong)"
            except StreamDestroyedError:
                outcome += ",StreamDestroyedError"
        _kept.append((headers, self))
        headers["x-keeper"] = outcome


class Stats(Filter):
    """Answers /stats with the runtime's counters (read by tests)."""

    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(
            200, body=json.dumps(envoy_pyext.stats()), headers={"content-type": "application/json"})


class Logger(Filter):
    def decode_headers(self, headers, end_stream):
        logging.getLogger("probe.logger").warning("python logging record %s", headers.get(":path"))
        self.callbacks.log("error", "callbacks.log message")


class ConfigEcho(Filter):
    @classmethod
    def parse_config(cls, raw):
        return {"parsed": json.loads(raw)}

    def decode_headers(self, headers, end_stream):
        headers["x-config"] = json.dumps(self.config, sort_keys=True)


class InitState(Filter):
    """A subclass with __init__ (per-stream state), reading self.config there."""

    def __init__(self):
        self.count = 0
        self.cfg_at_init = self.config

    def decode_headers(self, headers, end_stream):
        self.count += 1
        headers["x-init"] = f"{self.count}:{self.cfg_at_init}"


class VenvProbe(Filter):
    """Reports where Python found things: the venv's site-packages must be on sys.path."""

    def decode_headers(self, headers, end_stream):
        import sys

        import hypothesis  # installed only in the project virtualenv

        return self.callbacks.send_local_reply(200, body=json.dumps({
            "prefix": sys.prefix, "executable": sys.executable,
            "hypothesis": hypothesis.__file__, "envoy_pyext": envoy_pyext.__file__,
            "in_envoy": envoy_pyext.in_envoy()}))
