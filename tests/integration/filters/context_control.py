"""Filters using stream control (tests/integration/test_context_control.py).

Control: the request header x-do says what to do in decode_headers (reset, goaway, goaway-hard,
recreate), x-mode how: sync (in the hook), async (in a coroutine after it left the worker), or
thread (a thread after Status.RUNNING). x-do: report answers with what the module recorded
(EVENTS), x-do: clear clears it. A recreated request carries x-recreated: 1 and is routed by
x-target (the route config sends x-target: side to the "side" cluster).
"""

import asyncio
import json
import threading

from envoy_pyext import EnvoyPyextError, Filter, Status, StreamDestroyedError

EVENTS: list[str] = []


class Control(Filter):
    def decode_headers(self, headers, end_stream):
        do = headers.get("x-do") or ""
        if do == "report":
            return self.callbacks.send_local_reply(200, json.dumps(EVENTS))
        if do == "clear":
            EVENTS.clear()
            return self.callbacks.send_local_reply(200, "cleared")
        if not do or headers.get("x-recreated") == "1":
            if headers.get("x-recreated") == "1":
                EVENTS.append(f"recreated:{headers.get('x-mode')}")
            return None
        self.tag = f"{do}:{headers.get('x-mode')}"
        mode = headers.get("x-mode")
        if mode == "async":
            return self._later(headers, do)
        if mode == "thread":
            threading.Thread(target=self._act, args=(headers, do)).start()
            return Status.RUNNING
        return self._act(headers, do)

    async def _later(self, headers, do):
        await asyncio.sleep(0.001)      # leaves the worker: the stream is pending
        return self._act(headers, do)

    def _act(self, headers, do):
        cb = self.callbacks
        if do == "reset":
            cb.reset_stream("py reset")
        elif do == "goaway":
            cb.send_go_away_and_close()
        elif do == "goaway-hard":
            cb.send_go_away_and_close(graceful=False)
        elif do == "recreate":
            headers["x-recreated"] = "1"
            headers["x-target"] = "side"
            try:
                cb.recreate_stream()
            except EnvoyPyextError as e:
                # Refused (the request has a body): the stream goes on, unchanged route.
                EVENTS.append(f"refused:{headers.get('x-mode')}:{'whole request' in str(e)}")
                headers["x-refused"] = "1"
                return None
        try:
            cb.reset_stream()   # a second end is refused
        except EnvoyPyextError as e:
            EVENTS.append(f"second:{'already ended' in str(e)}")
        self._keep = cb
        return Status.CONTINUE  # ignored when the stream ended

    def decode_data(self, data, end_stream):
        EVENTS.append(f"decode_data:{getattr(self, 'tag', '-')}:{len(data)}")

    def encode_headers(self, headers, end_stream):
        EVENTS.append(f"encode_headers:{getattr(self, 'tag', '-')}")

    def on_destroy(self):
        cb = getattr(self, "_keep", None)
        if cb is None:
            return
        EVENTS.append(f"destroyed:{self.tag}")
        # After destroy every control raises StreamDestroyedError (a thread keeps trying).
        def late():
            for fn in (cb.reset_stream, cb.recreate_stream, cb.send_go_away_and_close):
                try:
                    fn()
                    EVENTS.append(f"late-ok:{self.tag}")
                except StreamDestroyedError:
                    EVENTS.append(f"late-destroyed:{self.tag}")
        t = threading.Thread(target=late)
        t.start()
        t.join()
