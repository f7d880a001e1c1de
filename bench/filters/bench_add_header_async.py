"""The benchmark's header filter with ``async def`` hooks (needs a build whose
``envoy_pyext.FEATURES`` contains ``"async"``; bench/run.py reports these rows as n/a otherwise).

- ``AddHeaderAsync``: the hooks await nothing, so the coroutine finishes without suspending:
  what the async machinery costs when it is not used.
- ``AddHeaderAsyncSleep``: each hook first ``await asyncio.sleep(0)``, a real suspension (one
  trip through the event loop), then does the same header work.
"""

import asyncio

from envoy_pyext import Filter


class AddHeaderAsync(Filter):
    async def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    async def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)


class AddHeaderAsyncSleep(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0)
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0)
        headers.add("x-filter", self.user)
