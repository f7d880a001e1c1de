"""The benchmark's body filter: the header work of bench_add_header.py, plus the whole request
body buffered (``Status.STOP_AND_BUFFER`` from the data hook) and sent upstream upper-cased.

``UpperBody`` upper-cases in place where Envoy holds the body (``Buffer.upper()``: no copy);
``UpperBodyCopy`` the way without it, a copy out, ``bytes.upper()`` and a copy back (measured
by bench/run.py --callgrind as the ``*_copy`` rows)."""

from envoy_pyext import Filter, Status


class UpperBody(Filter):
    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    def decode_data(self, buffer, end_stream):
        if not end_stream:
            return Status.STOP_AND_BUFFER  # called again once, with the whole body
        buffer.upper()

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)


class UpperBodyCopy(UpperBody):
    def decode_data(self, buffer, end_stream):
        if not end_stream:
            return Status.STOP_AND_BUFFER
        buffer.set(bytes(buffer).upper())
