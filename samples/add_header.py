"""Reads the request header ``x-user``, marks the request with ``x-seen: 1`` before it goes
upstream, and echoes the user back in the response header ``x-filter``.

The filter config (``filter_config`` in Envoy's YAML) is an optional greeting placed in the
response header ``x-greeting``.
"""

from envoy_pyext import Filter, HeaderMap


class AddHeader(Filter):
    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        headers.add("x-filter", self.user)
        if self.config:
            headers["x-greeting"] = self.config
