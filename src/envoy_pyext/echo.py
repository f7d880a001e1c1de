# envoy-pyext: Apache-2.0
"""A built-in stand-in upstream: ``envoy_pyext.echo:Echo`` answers every request itself with a
JSON description of the request it received (like httpbin's /anything):

    {"method": "POST", "path": "/x?y=1", "authority": "...",
     "headers": {"x-user": "alice", "x-multi": ["1", "2"], ...},
     "body": "...", "body_base64": null}

``body`` is the body as text when it is UTF-8 (else null, and ``body_base64`` has it).
``envoy-pyext run --echo`` serves it on an internal listener of the same Envoy and routes the
proxy there, so a filter can be tried without a service of one's own.
"""

from __future__ import annotations

import base64
import json

from ._native import Buffer, Filter, HeaderMap, Status

__all__ = ["Echo", "describe"]


def describe(headers: list[tuple[str, str]], body: bytes) -> bytes:
    """The JSON document Echo answers with, for these request headers and body."""
    pseudo = dict((k, v) for k, v in headers if k.startswith(":"))
    try:
        text: str | None = body.decode("utf-8")
        b64 = None
    except UnicodeDecodeError:
        text, b64 = None, base64.b64encode(body).decode()
    doc = {
        "method": pseudo.get(":method", ""),
        "path": pseudo.get(":path", ""),
        "authority": pseudo.get(":authority", ""),
        "headers": _headers(headers),
        "body": text,
        "body_base64": b64,
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def _headers(headers: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for k, v in headers:
        if k.startswith(":"):
            continue
        if k in out:
            prev = out[k]
            out[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[k] = v
    return out


class Echo(Filter):
    """Answers each request with a JSON description of it (status 200)."""

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        if end_stream:
            return self._answer(b"")
        return Status.STOP_AND_BUFFER  # decode_data gets the whole body once

    def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        return self._answer(bytes(buffer))

    def _answer(self, body: bytes) -> Status:
        return self.callbacks.send_local_reply(
            200, describe(self.request_headers.items(), body),
            headers={"content-type": "application/json", "x-echo": "envoy-pyext"},
            details="envoy_pyext_echo")
