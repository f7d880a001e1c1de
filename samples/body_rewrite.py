"""Buffers whole bodies and rewrites them: every occurrence of ``old`` becomes ``new`` in the
request body, and the response body is upper-cased. Envoy keeps content-length right.

filter_config is "old=new" (default "hello=goodbye").
"""

from envoy_pyext import Buffer, Filter, Status


class BodyRewrite(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[bytes, bytes]:
        old, sep, new = (raw or "hello=goodbye").partition("=")
        if not sep or not old:
            raise ValueError(f"expected 'old=new', got {raw!r}")
        return old.encode(), new.encode()

    def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        if not end_stream:
            return Status.STOP_AND_BUFFER  # see the whole body once, at the end
        old, new = self.config
        buffer.set(bytes(buffer).replace(old, new))
        return None

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        if not end_stream:
            return Status.STOP_AND_BUFFER
        buffer.set(bytes(buffer).upper())
        return None
