"""An async filter: looks the caller up in a (simulated) remote service before the request
goes on, without blocking Envoy's worker thread. Unknown callers get a 403.

filter_config: the lookup latency in seconds (default 0.01).
"""

import asyncio

from envoy_pyext import Filter, HeaderMap, Status

_DIRECTORY = {"alice": "admin", "bob": "reader"}


async def lookup_role(user: str, latency: float) -> str | None:
    await asyncio.sleep(latency)  # stands in for asyncio.open_connection(...) & co
    return _DIRECTORY.get(user)


class RoleLookup(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> float:
        return float(raw or 0.01)

    async def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        role = await lookup_role(headers.get("x-user", ""), self.config)
        if role is None:
            return self.callbacks.send_local_reply(403, body=b"unknown user\n")
        headers["x-role"] = role
        return None
