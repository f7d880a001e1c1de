"""Buffers whole bodies and rewrites them: every occurrence of ``old`` becomes ``new`` in the
request body, and the response body is upper-cased. STOP_AND_BUFFER from the headers hooks holds
the headers until the data hook saw the whole body, so the runtime can make content-length
match the rewritten body.

filter_config is "old=new" (default "hello=goodbye").
"""

from envoy_pyext import Buffer, Filter, HeaderMap, Status


class BodyRewrite(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[bytes, bytes]:
        old, sep, new = (raw or "hello=goodbye").partition("=")
        if not sep or not old:
            raise ValueError(f"expected 'old=new', got {raw!r}")
        return old.encode(), new.encode()

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        return Status.STOP_AND_BUFFER  # decode_data sees the whole body once, at the end

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        old, new = self.config
        buffer.set(bytes(buffer).replace(old, new))
        return None

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        buffer.upper()  # in place where Envoy holds the body: no copy
        return None
