"""Hooks that need a real asyncio Task (current_task, timeout, wait_for, TaskGroup, HTTP
clients) and a per-stream contextvars context."""

import asyncio
import contextvars
import json
import weakref

import envoy_pyext
from envoy_pyext import Filter, Status, event_loop

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


class ContextPerStreamSync(Filter):
    """Sync hooks only (its streams are recycled, native/reuse.pxi): what a stream finds of
    the last one's context variable and attributes shows whether anything leaked."""

    def decode_headers(self, headers, end_stream):
        headers["x-before"] = REQUEST_ID.get()
        headers["x-attrs"] = ",".join(sorted(vars(self))) or "none"
        REQUEST_ID.set(headers.get("x-id", "none"))
        self.id = headers.get("x-id")

    def encode_headers(self, headers, end_stream):
        headers["x-id-seen"] = f"{self.id} {REQUEST_ID.get()}"


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


class FirstStep(Filter):
    """The first step of a hook's Task (x-mode: `finish`, it never suspends; `raise`, it
    raises without suspending; `yield`, it yields bare once; `timer`, it then waits on a
    TaskGroup's task): what asyncio sees in it, and on which thread its steps run.
    encode_headers (sync) reads back what the Task left in the stream's context."""

    async def decode_headers(self, headers, end_stream):
        import threading

        mode = headers.get("x-mode")
        task = asyncio.current_task()
        headers["x-is-task"] = str(isinstance(task, asyncio.Task))
        headers["x-task-name"] = task.get_name()
        headers["x-loop"] = str(asyncio.get_running_loop() is event_loop())
        headers["x-thread-first"] = threading.current_thread().name
        async with asyncio.timeout(30):
            async with asyncio.TaskGroup():     # no task in it: no suspension
                headers["x-in-group-task"] = str(asyncio.current_task() is task)
        REQUEST_ID.set(headers.get("x-id", "none"))
        if mode == "raise":
            raise ValueError("first step raised")
        if mode != "finish":
            await asyncio.sleep(0)          # a bare yield: the next step stays on the worker
            headers["x-thread-yield"] = threading.current_thread().name
        if mode == "timer":
            async with asyncio.TaskGroup() as tg:   # waits on its task: the loop thread goes on
                tg.create_task(asyncio.sleep(0.001))
            headers["x-thread-timer"] = threading.current_thread().name
        headers["x-same-task"] = str(asyncio.current_task() is task)
        self.task = task

    def encode_headers(self, headers, end_stream):
        headers["x-context-id"] = REQUEST_ID.get()
        headers["x-task-done"] = str(self.task.done())


_detached_ran: dict = {}   # x-id -> threading.Event, set by the detached task


def _ran(key):
    import threading

    return _detached_ran.setdefault(key, threading.Event())


class Detaches(Filter):
    """The hook's Task starts a task of its own and finishes without suspending: nothing else
    wakes the runtime's loop thread, which must still run the new task promptly."""

    async def decode_headers(self, headers, end_stream):
        key = headers.get("x-id")

        async def mark():
            _ran(key).set()

        asyncio.get_running_loop().create_task(mark())


class DetachedRan(Filter):
    """Sync: waits (bounded, the GIL released) for the detached task of x-id to have run."""

    def decode_headers(self, headers, end_stream):
        headers["x-ran"] = str(_ran(headers.get("x-id")).wait(20))


_weak_tasks: list = []     # SelfCancel "weak": weak references to hooks' current tasks


class SelfCancel(Filter):
    """What a hook does to its own Task in its first step (x-mode): `return`, cancels it and
    returns (the Task ends cancelled); `await`, cancels it then awaits a bare yield (the
    CancelledError arrives there, caught: it answers); `await-future`, cancels it then awaits
    a future nobody completes (cancelled with the Task, caught); `weak`, keeps a weak
    reference to it; `yield`, awaits three bare yields; `cancel-later`, cancels it after a
    bare yield, then awaits another (caught); `callback`, `callback-yield`, `callback-timer`,
    adds a done callback to it that sets _ran(x-id), then returns, awaits a bare yield, or a
    timer; `none`, nothing. The response carries
    stats()["hook_tasks"]."""

    async def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode")
        task = asyncio.current_task()
        if mode == "weak":
            _weak_tasks.append(weakref.ref(task))
        if mode in ("return", "await", "await-future"):
            task.cancel("by itself")
        if mode == "await":
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as e:
                headers["x-caught"] = str(e)
                headers["x-cancelling"] = str(task.cancelling())
        if mode in ("callback", "callback-yield", "callback-timer"):
            key = headers.get("x-id")
            task.add_done_callback(lambda t: _ran(key).set() if not t.cancelled() else None)
            if mode == "callback-yield":
                await asyncio.sleep(0)      # parked as the carrier, then finishes
            if mode == "callback-timer":
                await asyncio.sleep(0.001)  # waits on a future: the carrier becomes its Task
        if mode == "yield":
            for _ in range(3):
                await asyncio.sleep(0)      # bare yields: stepped again as the carrier
        if mode == "cancel-later":
            await asyncio.sleep(0)
            task.cancel("later")            # in a later step, taken as the carrier
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as e:
                headers["x-caught"] = str(e)
        if mode == "await-future":
            fut = asyncio.get_running_loop().create_future()
            try:
                await fut
            except asyncio.CancelledError:
                headers["x-caught"] = "future"
                headers["x-future-cancelled"] = str(fut.cancelled())
        headers["x-same-task"] = str(asyncio.current_task() is task)
        headers["x-task-name"] = task.get_name()

    async def encode_headers(self, headers, end_stream):
        headers["x-hook-tasks"] = str(envoy_pyext.stats()["hook_tasks"])



def _running_loop_name():
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    return "runtime" if loop is event_loop() else "other"


class PrivateLoopThenAsync(Filter):
    """A sync hook that runs a private event loop of its own (x-private: 1), then an async hook
    of the same stream on the same worker: which running loop each one sees."""

    def decode_headers(self, headers, end_stream):
        headers["x-sync-before"] = _running_loop_name()
        if headers.get("x-private") == "1":
            async def inner():
                return _running_loop_name()

            headers["x-private-saw"] = asyncio.run(inner())
        headers["x-sync-after"] = _running_loop_name()

    async def encode_headers(self, headers, end_stream):
        headers["x-async"] = _running_loop_name()


class AsyncThenSync(Filter):
    """An async hook that finishes in its first step, then a sync hook of the same stream."""

    async def decode_headers(self, headers, end_stream):
        headers["x-async"] = _running_loop_name()

    def encode_headers(self, headers, end_stream):
        headers["x-sync-after-async"] = _running_loop_name()
