"""A configuration that keeps a value fresh through a config-level call every 100 ms."""

import asyncio

from envoy_pyext import Filter


class Current:
    def __init__(self, cluster):
        self.cluster = cluster
        self.version = 0

    async def refresh(self, context):
        while True:
            r = await context.http_call(self.cluster, path="/version")
            self.version = int(r.body)
            await asyncio.sleep(0.1)


class Refreshing(Filter):
    @classmethod
    def parse_config(cls, raw, context):
        cur = Current(raw)
        if context.spawn(cur.refresh(context)) is None:
            assert context.is_validation
            import logging
            logging.getLogger("configctx").warning("spawned nothing (validate)")
        return cur

    def decode_headers(self, headers, end_stream):
        headers["x-version"] = str(self.config.version)
