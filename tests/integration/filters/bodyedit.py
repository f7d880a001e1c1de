"""Buffer.translate/upper/lower through the real Envoy (tests/integration/test_body_edit.py).

The request header x-edit picks what the request side does, x-edit-response the response side:
  buffered   the whole body (STOP_AND_BUFFER from the headers hook), translated with ROT13
  stream     each chunk as it passes (CONTINUE), upper-cased
  lower      the whole body, lower-cased
  bad-tables the whole body, bad tables tried (the errors go upstream in x-errors), left as is
  keep       the whole body upper-cased, and the Buffer kept past the stream
  use-kept   the kept Buffer (its stream is gone) edited: what was raised goes in x-kept
"""

from __future__ import annotations

import asyncio
import json

import envoy_pyext
from envoy_pyext import Filter, Status

ROT13 = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                        b"nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM")
BAD_TABLES = (bytes(255), 12)
KEPT: list = []
WHOLE = ("buffered", "lower", "bad-tables", "keep")


def edit(buffer, mode: str, headers=None) -> None:
    if mode == "buffered":
        buffer.translate(ROT13)
    elif mode == "stream":
        buffer.upper()
    elif mode == "lower":
        buffer.lower()
    elif mode == "keep":
        buffer.upper()
        KEPT.append(buffer)
    elif mode == "bad-tables":
        errors = []
        for table in BAD_TABLES:
            try:
                buffer.translate(table)
            except (TypeError, ValueError) as e:
                errors.append(f"{type(e).__name__}: {e}")
        headers["x-errors"] = " | ".join(errors)


def use_kept() -> str:
    raised = []
    for call in (KEPT[-1].upper, KEPT[-1].lower, lambda: KEPT[-1].translate(ROT13)):
        try:
            call()
        except Exception as e:  # noqa: BLE001 - reported to the test
            raised.append(type(e).__name__)
    return ",".join(raised)


class BodyEdit(Filter):
    """Edits in the plain (synchronous) hooks."""

    def decode_headers(self, headers, end_stream):
        self.req = headers.get("x-edit", "")
        self.resp = headers.get("x-edit-response", "")
        if self.req == "use-kept":
            headers["x-kept"] = use_kept()
        return Status.STOP_AND_BUFFER if self.req in WHOLE else None

    def decode_data(self, buffer, end_stream):
        edit(buffer, self.req, self.request_headers)

    def encode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER if self.resp in WHOLE else None

    def encode_data(self, buffer, end_stream):
        edit(buffer, self.resp, self.response_headers)


class BodyEditAsync(BodyEdit):
    """The same edits from coroutines that suspend first: they go to the pending hook's copy of
    the body and reach Envoy when the hook is done."""

    async def decode_data(self, buffer, end_stream):
        await asyncio.sleep(0)
        edit(buffer, self.req, self.request_headers)

    async def encode_data(self, buffer, end_stream):
        await asyncio.sleep(0)
        edit(buffer, self.resp, self.response_headers)


class EditInTrailers(Filter):
    """The request body edited in decode_trailers after its headers went on with
    content-length: held by the data hook (STOP_AND_BUFFER), then upper-cased in place and
    set() to as many bytes; writes that change its length are refused. What happened goes
    back in the response header x-trailers-edit (the request headers already went on)."""

    def decode_data(self, buffer, end_stream):
        return None if end_stream else Status.STOP_AND_BUFFER

    def decode_trailers(self, trailers):
        body = self.request_body
        self.report = {"len": len(body), "errors": []}
        body.upper()
        body.set(bytes(body).replace(b"E", b"3"))
        for write in (lambda: body.append(b"!"), lambda: body.drain(1),
                      lambda: body.set(b"short"), lambda: body.prepend(b">")):
            try:
                write()
            except envoy_pyext.EnvoyPyextError as e:
                self.report["errors"].append(str(e))
        body.append(b"")            # no change: fine

    def encode_headers(self, headers, end_stream):
        headers["x-trailers-edit"] = json.dumps(getattr(self, "report", None))


class Report(Filter):
    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(200, body=json.dumps(envoy_pyext.stats()))
