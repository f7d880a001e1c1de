"""Filters that call another service through an Envoy cluster ("side")."""

import asyncio
import json
import threading

import envoy_pyext
from envoy_pyext import (CalloutResetError, ClusterNotFoundError, Filter, ResponseTooLargeError,
                         Status)

_lock = threading.Lock()
observed = {"cancelled": 0, "worker_only": 0}


def bump(key):
    with _lock:
        observed[key] += 1


class Caller(Filter):
    """x-call says what to call; the outcome goes into request headers (to the upstream) or a
    local reply."""

    async def decode_headers(self, headers, end_stream):
        what = headers.get("x-call", "ok")
        try:
            if what == "ok":
                worker = threading.get_ident()  # the first step runs on the Envoy worker
                r = await self.http_call("side", "POST", "/ok?q=1", headers={"x-a": "1"},
                                         body=b"ping")
                seen = json.loads(r.body)
                headers["x-callout"] = f"{r.status} {seen['path']} {seen['body']} {r.get('x-side')}"
                headers["x-loop"] = str(threading.get_ident() != worker)
            elif what == "from-loop":
                worker = threading.get_ident()
                await asyncio.sleep(0.001)      # a timer: the Task continues on the loop thread
                assert threading.get_ident() != worker
                r = await self.http_call("side", path="/ok?from=loop")  # hops to the worker
                headers["x-callout"] = f"{r.status} {json.loads(r.body)['path']}"
            elif what == "404":
                r = await self.http_call("side", path="/status/404")
                headers["x-callout"] = str(r.status)
            elif what == "big":
                r = await self.http_call("side", path="/big/300000")
                headers["x-callout"] = str(len(r.body))
            elif what == "too-big":
                await self.http_call("side", path="/big/300000", max_response_bytes=1000)
            elif what == "nocluster":
                await self.http_call("no-such-cluster")
            elif what == "timeout":
                await self.http_call("side", path="/hold", timeout=0.2)
            elif what == "asyncio-timeout":
                async with asyncio.timeout(0.2):
                    await self.http_call("side", path="/hold", timeout=30)
            elif what == "reset":
                await self.http_call("side", path="/reset")
            elif what == "two":
                a, b = await asyncio.gather(self.http_call("side", path="/ok?n=1"),
                                            self.http_call("side", path="/ok?n=2"))
                headers["x-callout"] = ",".join(json.loads(r.body)["path"] for r in (a, b))
            elif what == "stream":
                async with self.http_stream("side", "POST", "/echo") as s:
                    await s.send(b"part1-")
                    await s.send(b"part2", end_stream=True)
                    await s.response_headers()
                    chunks = [c async for c in s]
                headers["x-stream"] = f"{s.status} {b''.join(chunks).decode()} {s.trailers}"
            elif what == "stream-early":
                async with self.http_stream("side", "POST", "/echo") as s:
                    await s.send(b"never finished")
                headers["x-stream"] = "left early"
            elif what == "hold":
                try:
                    await self.http_call("side", path="/hold", timeout=60)
                except asyncio.CancelledError:
                    bump("cancelled")
                    raise
        except ClusterNotFoundError as e:
            return self.callbacks.send_local_reply(503, body=f"no cluster: {e}\n")
        except ResponseTooLargeError:
            return self.callbacks.send_local_reply(502, body=b"too large\n")
        except CalloutResetError as e:
            return self.callbacks.send_local_reply(502, body=f"reset: {e.reason}\n")
        except TimeoutError:
            return self.callbacks.send_local_reply(504, body=f"{what}\n")
        return Status.CONTINUE


class ThreadCaller(Filter):
    """RUNNING: a plain thread makes the call (it hops to the worker) and continues."""

    def decode_headers(self, headers, end_stream):
        threading.Thread(target=self._work, daemon=True).start()
        return Status.RUNNING

    def _work(self):
        loop = envoy_pyext.event_loop()
        call = self.http_call("side", path="/ok?t=1")   # made on this thread
        r = asyncio.run_coroutine_threadsafe(call, loop).result(30)
        self.request_headers["x-callout"] = f"{r.status} {json.loads(r.body)['path']}"
        self.callbacks.continue_request()


class Report(Filter):
    def decode_headers(self, headers, end_stream):
        with _lock:
            data = {**envoy_pyext.stats(), **observed}
        return self.callbacks.send_local_reply(200, body=json.dumps(data))
