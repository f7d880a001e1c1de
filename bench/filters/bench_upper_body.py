"""The benchmark's body filter: the header work of bench_add_header.py, plus the whole request
body buffered (``Status.STOP_AND_BUFFER`` from the data hook) and sent upstream upper-cased."""

from envoy_pyext import Filter, Status


class UpperBody(Filter):
    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    def decode_data(self, buffer, end_stream):
        if not end_stream:
            return Status.STOP_AND_BUFFER  # called again once, with the whole body
        buffer.set(bytes(buffer).upper())

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)
