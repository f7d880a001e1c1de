"""The benchmark's header filter, pure Python: the same work as samples/add_header.py (read
``x-user``, set ``x-seen: 1`` on the request, add ``x-filter: <x-user>`` to the response)."""

from envoy_pyext import Filter


class AddHeader(Filter):
    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)
