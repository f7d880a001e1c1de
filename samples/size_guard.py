"""Guards body sizes: a request body above `max_request_bytes` gets 413, an upstream response
above `max_response_bytes` is replaced by 502, whether the size is announced
(content-length) or only known while the body streams.

Requests stream through (nothing is held); a request that turns out too large mid-way is
answered 413 and its upstream request reset. Responses without content-length are held with
watermark back-pressure (STOP_AND_BUFFER_WATERMARK) until they end or exceed the limit, so
that a 502 can still replace them: keep `max_response_bytes` below Envoy's buffer limit.

filter_config is JSON: {"max_request_bytes": 1048576, "max_response_bytes": 1048576}.
"""

import json

from envoy_pyext import Buffer, Filter, HeaderMap, Status


class SizeGuard(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> tuple[int, int]:
        cfg = json.loads(raw or "{}")
        return int(cfg.get("max_request_bytes", 1 << 20)), int(cfg.get("max_response_bytes",
                                                                       1 << 20))

    def __init__(self) -> None:
        self.request_bytes = 0

    def _too_large(self, code: int, what: str) -> Status:
        return self.callbacks.send_local_reply(code, body=f"{what} too large\n",
                                               details=f"{what.replace(' ', '_')}_too_large")

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.config[0]:
            return self._too_large(413, "request body")
        return None

    def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        self.request_bytes += len(buffer)
        if self.request_bytes > self.config[0]:
            return self._too_large(413, "request body")
        return None

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            if int(length) > self.config[1]:
                return self._too_large(502, "upstream response")
            return None                          # announced and small enough: stream it
        return None if end_stream else Status.STOP_AND_BUFFER_WATERMARK

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        # Without content-length: `buffer` is what is held plus the new chunk.
        if len(buffer) > self.config[1] and "content-length" not in self.response_headers:
            return self._too_large(502, "upstream response")
        if end_stream or "content-length" in self.response_headers:
            return None
        return Status.STOP_AND_BUFFER_WATERMARK  # keep holding until the end
