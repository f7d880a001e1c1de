"""Hooks that need a real asyncio Task (current_task, timeout, wait_for, TaskGroup, HTTP
clients) and a per-stream contextvars context."""

import asyncio
import contextvars
import json

from envoy_pyext import Filter, Status

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class CurrentTask(Filter):
    async def decode_headers(self, headers, end_stream):
        first = asyncio.current_task()        # first step, inline on the worker
        headers["x-task-first"] = str(first is not None)
        await asyncio.sleep(0)                # a bare yield: still on the worker
        headers["x-task-same"] = str(asyncio.current_task() is first)
        await asyncio.sleep(0.001)            # a timer: on the loop thread now
        headers["x-task-after-timer"] = str(asyncio.current_task() is first)


class Timeouts(Filter):
    """x-mode: timeout | wait_for | timeout-ok; answers 504 when the deadline passes."""

    async def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode")
        try:
            if mode == "timeout":
                async with asyncio.timeout(0.05):
                    await asyncio.sleep(30)
            elif mode == "wait_for":
                await asyncio.wait_for(asyncio.sleep(30), 0.05)
            else:
                async with asyncio.timeout(30):
                    await asyncio.sleep(0.001)
                headers["x-in-time"] = "1"
        except TimeoutError:
            return self.callbacks.send_local_reply(504, body=f"{mode} expired\n")
        return None


class Group(Filter):
    async def decode_headers(self, headers, end_stream):
        async def one(n):
            await asyncio.sleep(0.001 * n)
            return n * 10

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(n)) for n in (1, 2, 3)]
        headers["x-group"] = ",".join(str(t.result()) for t in tasks)


class ContextPerStream(Filter):
    """Sets a ContextVar from the request in a sync hook; reads it back after awaits in async
    hooks of the same stream. What it saw before setting shows whether another stream's value
    leaked in."""

    def decode_headers(self, headers, end_stream):
        headers["x-before"] = REQUEST_ID.get()
        REQUEST_ID.set(headers.get("x-id", "none"))

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)
        headers["x-after-await"] = REQUEST_ID.get()
        await asyncio.sleep(0)
        headers["x-after-yield"] = REQUEST_ID.get()

    def encode_trailers(self, trailers):
        return None


class HttpxCall(Filter):
    """Calls the upstream directly with httpx.AsyncClient (filter_config: its port)."""

    async def decode_headers(self, headers, end_stream):
        import httpx

        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{self.config}/side", timeout=10)
        headers["x-side-status"] = str(r.status_code)
        headers["x-side-path"] = json.loads(r.content)["path"]


class AiohttpCall(Filter):
    async def decode_headers(self, headers, end_stream):
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.config}/side2") as r:
                body = await r.read()
                headers["x-side-status"] = str(r.status)
        headers["x-side-path"] = json.loads(body)["path"]
        return Status.CONTINUE
