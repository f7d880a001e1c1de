"""Header order after set/add/remove: the same whether the hook runs inline (Envoy's own map)
or pending (the runtime's shadow copy, replayed into Envoy)."""

import asyncio

from envoy_pyext import Filter


def _edit(headers):
    headers["x-a"] = "new"
    headers.add("x-c", "added")
    del headers["x-b"]
    headers.add("x-b", "again")


class EditSync(Filter):
    def decode_headers(self, headers, end_stream):
        _edit(headers)


class EditAsync(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)   # really pending: the edits go to the shadow copy
        _edit(headers)
