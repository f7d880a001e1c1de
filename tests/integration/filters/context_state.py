"""Filters writing and reading filter state (tests/integration/test_context_state.py)."""

import asyncio
import json
import threading
from collections import defaultdict

from envoy_pyext import EnvoyPyextError, Filter, Status

freed: defaultdict = defaultdict(threading.Event)


class Payload:
    """A Python object handed from one filter to the next; freed when Envoy drops it."""

    def __init__(self, tag):
        self.tag = tag
        self.items = [1, 2, 3]

    def __del__(self):
        freed[self.tag].set()


class Producer(Filter):
    def decode_headers(self, headers, end_stream):
        tag = headers.get("x-tag", "-")
        fs = self.filter_state
        if headers.get("x-mode") == "connection":
            if "acme.conn" not in fs:
                fs.set_object("acme.conn", Payload(tag), life_span="connection")
                fs.set("acme.conn_first", tag, life_span="connection")
            return None
        fs.set("acme.user", f"user-{tag}")
        fs.set("acme.bin", b"\x00\x01\xff")
        fs.set_object("acme.obj", Payload(tag))
        errors = []
        for bad in (lambda: fs.set("acme.x", 42), lambda: fs.set("", "v"),
                    lambda: fs.set("acme.x", "v", life_span="forever")):
            try:
                bad()
            except (TypeError, ValueError) as e:
                errors.append(type(e).__name__)
        fs.set("acme.errors", ",".join(errors))
        if headers.get("x-mode") == "async":
            return self._later(tag)
        return None

    async def _later(self, tag):
        await asyncio.sleep(0.001)      # leaves the worker: the writes are applied at resume
        self.filter_state.set("acme.late", "from-coroutine")
        self.filter_state.set_object("acme.late_obj", {"tag": tag})
        try:
            self.filter_state.get("acme.user")
        except EnvoyPyextError:
            self.filter_state.set("acme.read_error", "yes")
        return Status.CONTINUE


class Consumer(Filter):
    """What Producer (an earlier filter) left; the findings go out in the response header
    x-state."""

    def decode_headers(self, headers, end_stream):
        fs = self.filter_state
        obj = fs.get_object("acme.obj")
        conn = fs.get_object("acme.conn")
        late = fs.get_object("acme.late_obj")
        self.seen = {
            "user": (fs.get("acme.user") or b"").decode(),
            "bin": list(fs.get("acme.bin") or b""),
            "has_user": "acme.user" in fs, "has_missing": "acme.missing" in fs,
            "missing": fs.get("acme.missing", b"dflt").decode(),
            "obj_tag": obj.tag if obj is not None else None,
            "obj_items": obj.items if obj is not None else None,
            "bytes_as_object": fs.get_object("acme.user", "dflt"),
            "errors": (fs.get("acme.errors") or b"").decode(),
            "late": (fs.get("acme.late") or b"").decode(),
            "late_obj": late,
            "read_error": (fs.get("acme.read_error") or b"").decode(),
            "conn_tag": conn.tag if conn is not None else None,
            "conn_first": (fs.get("acme.conn_first") or b"").decode(),
        }

    def encode_headers(self, headers, end_stream):
        headers["x-state"] = json.dumps(self.seen)


class Freed(Filter):
    """Answers once the Payload of x-tag was freed (an event, no polling)."""

    def decode_headers(self, headers, end_stream):
        tag = headers.get("x-tag", "-")

        def answer():
            ok = freed[tag].wait(30)
            self.callbacks.send_local_reply(200 if ok else 504, body=b"freed" if ok else b"no")

        threading.Thread(target=answer).start()
        return Status.RUNNING
