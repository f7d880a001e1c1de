"""Filters whose log lines and errors must point at this file (test_filter_authoring.py)."""

from __future__ import annotations

import asyncio
import logging

from envoy_pyext import Filter

log = logging.getLogger("authoring")


def helper_that_raises(value):
    raise ValueError(f"bad value {value!r}")  # LINE:helper


class LogsAndRaises(Filter):
    def decode_headers(self, headers, end_stream):
        self.callbacks.log("warning", "callbacks.log line")  # LINE:callbacks
        log.warning("logging line")  # LINE:logging
        if headers.get("x-raise"):
            helper_that_raises(headers.get("x-raise"))


class AsyncRaises(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)
        helper_that_raises("async")
