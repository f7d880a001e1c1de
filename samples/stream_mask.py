"""A streaming body transform: masks e-mail addresses in text and NDJSON responses line by
line as the body streams, without buffering it (constant memory, first bytes out at once).

A line split across chunks is completed with the next chunk (its start is kept by the
filter meanwhile). The masked body has another length, so content-length is removed in
encode_headers and Envoy frames the body itself (chunked).

filter_config: the replacement (default "[email]").
"""

import re

from envoy_pyext import Buffer, Filter, HeaderMap, Status

EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
TEXTUAL = ("text/", "application/x-ndjson", "application/json")


class StreamMask(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> bytes:
        return (raw or "[email]").encode()

    def __init__(self) -> None:
        self.active = False
        self.partial = b""  # the start of a line whose end has not arrived yet

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        content_type = headers.get("content-type", "")
        if not end_stream and content_type.startswith(TEXTUAL):
            self.active = True
            headers.remove("content-length")  # the length changes: let Envoy frame the body
        return None

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        if not self.active:
            return None
        data = self.partial + bytes(buffer)
        if end_stream:
            complete, self.partial = data, b""
        else:
            cut = data.rfind(b"\n") + 1       # up to the last complete line
            complete, self.partial = data[:cut], data[cut:]
        buffer.set(EMAIL.sub(self.config, complete))
        return None
