"""Generated filter classes for tests/integration/test_matrix.py ("every stream ends").

A spec string says, for each hook, how it runs and what it returns:

    req_headers=sync:CONTINUE,req_data=async_yield:STOP_AND_BUFFER,resp_trailers=thread:LOCAL_REPLY

Hooks: req_headers, req_data, req_trailers, resp_headers, resp_data, resp_trailers.
Modes:
    sync          a plain hook returns the status
    async_inline  the hook returns a coroutine that finishes without suspending
    async_yield   ... that awaits asyncio.sleep(0) first (stepped again on the worker)
    async_sleep   ... that awaits asyncio.sleep(0.001) first (continues on the event loop)
    thread        the hook returns RUNNING; a pool thread calls continue_request() /
                  continue_response() (status CONTINUE) or send_local_reply() (LOCAL_REPLY)
Statuses: CONTINUE, STOP_AND_BUFFER, STOP_AND_BUFFER_WATERMARK, STOP_NO_BUFFER, LOCAL_REPLY
(send_local_reply(418, body=b"local:<hook>")).

Data hooks apply the status like this: CONTINUE and STOP_AND_BUFFER on every call;
STOP_AND_BUFFER_WATERMARK and STOP_NO_BUFFER on calls with end_stream=False, CONTINUE on the
call with end_stream=True; LOCAL_REPLY on the first call. No hook changes a body.

The runtime decides from the class which hooks exist, so there is one class per set of
overridden hooks: Matrix_<bits>, bits = one 0/1 per hook in the order above (Matrix_100100
overrides req_headers and resp_headers). The spec comes from the request header
x-matrix-spec (one listener per class serves every combination of modes and statuses), or
from filter_config when the header is absent (parse_config returns the parsed spec).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import envoy_pyext
from envoy_pyext import Filter, Status

HOOKS = ("req_headers", "req_data", "req_trailers", "resp_headers", "resp_data", "resp_trailers")
METHODS = {"req_headers": "decode_headers", "req_data": "decode_data",
           "req_trailers": "decode_trailers", "resp_headers": "encode_headers",
           "resp_data": "encode_data", "resp_trailers": "encode_trailers"}
MODES = ("sync", "async_inline", "async_yield", "async_sleep", "thread")
STATUSES = ("CONTINUE", "STOP_AND_BUFFER", "STOP_AND_BUFFER_WATERMARK", "STOP_NO_BUFFER",
            "LOCAL_REPLY")
THREAD_STATUSES = ("CONTINUE", "LOCAL_REPLY")

_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="matrix")


def parse_spec(text: str) -> dict:
    """'req_headers=sync:CONTINUE,...' -> {"req_headers": ("sync", "CONTINUE"), ...}"""
    spec = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        hook, _, rest = item.partition("=")
        mode, _, status = rest.partition(":")
        if hook not in HOOKS or mode not in MODES or status not in STATUSES:
            raise ValueError(f"bad matrix spec item {item!r}")
        if mode == "thread" and status not in THREAD_STATUSES:
            raise ValueError(f"a thread can only continue or reply: {item!r}")
        spec[hook] = (mode, status)
    return spec


def format_spec(spec: dict) -> str:
    return ",".join(f"{h}={spec[h][0]}:{spec[h][1]}" for h in HOOKS if h in spec)


def class_name(hooks) -> str:
    return "Matrix_" + "".join("1" if h in hooks else "0" for h in HOOKS)


class _MatrixBase(Filter):
    @classmethod
    def parse_config(cls, raw):
        return parse_spec(raw)

    def _spec(self) -> dict:
        spec = self.__dict__.get("_matrix_spec")
        if spec is None:
            text = self.request_headers.get("x-matrix-spec")
            spec = parse_spec(text) if text is not None else self.config
            self._matrix_spec = spec
        return spec

    def _outcome(self, hook: str, status: str, end_stream: bool, kind: str):
        if status == "LOCAL_REPLY":
            return self.callbacks.send_local_reply(418, body=b"local:" + hook.encode())
        if kind == "data" and end_stream and status in ("STOP_AND_BUFFER_WATERMARK",
                                                         "STOP_NO_BUFFER"):
            return Status.CONTINUE
        return Status[status]

    def _run(self, hook: str, kind: str, end_stream: bool):
        mode, status = self._spec()[hook]
        if mode == "sync":
            return self._outcome(hook, status, end_stream, kind)
        if mode == "thread":
            _pool.submit(self._thread, hook, status)
            return Status.RUNNING
        return self._coro(hook, mode, status, end_stream, kind)

    async def _coro(self, hook, mode, status, end_stream, kind):
        if mode == "async_yield":
            await asyncio.sleep(0)
        elif mode == "async_sleep":
            await asyncio.sleep(0.001)
        return self._outcome(hook, status, end_stream, kind)

    def _thread(self, hook, status):
        try:
            if status == "LOCAL_REPLY":
                self.callbacks.send_local_reply(418, body=b"local:" + hook.encode())
            elif hook.startswith("req"):
                self.callbacks.continue_request()
            else:
                self.callbacks.continue_response()
        except envoy_pyext.StreamDestroyedError:
            pass


def _make_hook(hook: str):
    kind = hook.split("_", 1)[1]
    if kind == "trailers":
        def method(self, trailers):
            return self._run(hook, "trailers", True)
    else:
        def method(self, arg, end_stream):
            return self._run(hook, kind, end_stream)
    method.__name__ = METHODS[hook]
    method.__qualname__ = f"Matrix.{METHODS[hook]}"
    return method


def make_class(hooks) -> type:
    """The Filter subclass overriding exactly `hooks` (names from HOOKS)."""
    ns = {"__module__": __name__,
          "__doc__": f"Overrides {', '.join(hooks) or 'nothing'} (see the module docstring)."}
    for h in hooks:
        ns[METHODS[h]] = _make_hook(h)
    return type(class_name(hooks), (_MatrixBase,), ns)


# Every combination of overridden hooks, as module attributes (what filter_name points at).
for _bits in range(1 << len(HOOKS)):
    _hooks = [h for i, h in enumerate(HOOKS) if _bits & (1 << (len(HOOKS) - 1 - i))]
    _cls = make_class(_hooks)
    globals()[_cls.__name__] = _cls
del _bits, _hooks, _cls


class MatrixReport(Filter):
    """Answers with envoy_pyext.stats()."""

    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(200, body=json.dumps(envoy_pyext.stats()),
                                               headers={"content-type": "application/json"})
