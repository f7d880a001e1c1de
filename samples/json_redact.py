"""Redacts sensitive fields from JSON response bodies before they reach the client: every
value of a listed key, at any depth, becomes the mask. Bodies that are not JSON pass as they
are. STOP_AND_BUFFER gives encode_data the whole body once; the runtime then sets
content-length to the new length.

filter_config is JSON: {"fields": ["password", "ssn"], "mask": "***"} (the defaults shown).
"""

import json
from typing import Any

from envoy_pyext import Buffer, Filter, HeaderMap, Status

DEFAULT_FIELDS = ("password", "ssn")


def redact(node: Any, fields: frozenset[str], mask: str) -> tuple[Any, int]:
    """`node` with every value under a key in `fields` replaced by `mask`, and how many."""
    if isinstance(node, dict):
        out, n = {}, 0
        for k, v in node.items():
            if k.lower() in fields:
                out[k], n = mask, n + 1
            else:
                out[k], m = redact(v, fields, mask)
                n += m
        return out, n
    if isinstance(node, list):
        items, n = [], 0
        for v in node:
            v, m = redact(v, fields, mask)
            items.append(v)
            n += m
        return items, n
    return node, 0


class JsonRedact(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[frozenset[str], str]:
        cfg = json.loads(raw or "{}")
        fields = cfg.get("fields", DEFAULT_FIELDS)
        if not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields):
            raise ValueError("'fields' must be a list of key names")
        return frozenset(f.lower() for f in fields), str(cfg.get("mask", "***"))

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        content_type = headers.get("content-type", "")
        self.active = not end_stream and "json" in content_type
        if not self.active:
            return None                 # nothing to redact: the body streams through
        return Status.STOP_AND_BUFFER   # encode_data sees the whole body once

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        if not getattr(self, "active", False):
            return None                 # streaming through unchanged (its length is fixed)
        try:
            doc = json.loads(bytes(buffer))
        except ValueError:
            return None                 # not JSON after all: unchanged
        fields, mask = self.config
        doc, count = redact(doc, fields, mask)
        if count:
            buffer.set(json.dumps(doc).encode())
            self.response_headers["x-redacted"] = count  # the headers are still held here
        return None
