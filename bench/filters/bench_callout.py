"""The benchmark's callout filter: the header work of bench_add_header.py (read ``x-user``, set
``x-seen: 1`` on the request, add ``x-filter: <x-user>`` to the response), plus ONE call per
request to another service through an Envoy cluster before the request goes on:
``GET /auth`` on the cluster ``callout`` (the bench's plain upstream, 13 bytes), with the user
in ``x-user``. A failed call (a reset, a timeout, no such cluster) or a non-200 answer: 503.

The Lua filter it is compared with (bench/envoys.py, LUA_CALLOUT) makes the same request with
``request_handle:httpCall`` and answers the same way. Needs ``"http_call"`` in
``envoy_pyext.FEATURES`` (async hooks)."""

from envoy_pyext import CalloutError, Filter


class Callout(Filter):
    async def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        try:
            r = await self.http_call("callout", "GET", "/auth", headers={"x-user": self.user},
                                     timeout=5.0)
        except (CalloutError, TimeoutError):
            return self.callbacks.send_local_reply(503, body=b"callout failed\n")
        if r.status != 200:
            return self.callbacks.send_local_reply(503, body=b"callout failed\n")
        headers["x-seen"] = "1"

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)
