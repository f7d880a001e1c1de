"""Filters using SDS generic secrets and runtime values (test_context_secrets.py,
test_context_runtime.py)."""

import asyncio
import json
import threading

from envoy_pyext import EnvoyPyextError, Filter, Status, runtime


class Secrets(Filter):
    """filter_config: JSON {"secrets": {name: sds_config or null}}. Each request answers with
    the secrets it reads (x-mode: sync / async / thread), and the error of an unsubscribed
    name."""

    @classmethod
    def parse_config(cls, raw, context):
        cfg = json.loads(raw)
        for name, sds in cfg["secrets"].items():
            context.secret(name, sds)
        return cfg

    def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode") or "sync"
        if mode == "async":
            return self._later()
        if mode == "thread":
            threading.Thread(target=self._answer).start()
            return Status.RUNNING
        return self._answer()

    async def _later(self):
        await asyncio.sleep(0.001)
        return self._answer()

    def _answer(self):
        out = {}
        for name in self.config["secrets"]:
            value = self.secret(name)
            out[name] = None if value is None else value.decode()
        try:
            self.secret("never-subscribed")
        except EnvoyPyextError as e:
            out["error"] = str(e)
        return self.callbacks.send_local_reply(200, json.dumps(out))


class Runtime(Filter):
    """Reads runtime values in parse_config (main thread) and in the hook (worker): both go
    back as JSON."""

    KEYS = (("bool", "pyext.flag", False), ("int", "pyext.limit", 7),
            ("float", "pyext.ratio", 0.5))

    @classmethod
    def parse_config(cls, raw, context):
        return {"at_load": cls.read()}

    @classmethod
    def read(cls):
        getters = {"bool": runtime.get_bool, "int": runtime.get_int, "float": runtime.get_float}
        return {key: getters[kind](key, default) for kind, key, default in cls.KEYS}

    def decode_headers(self, headers, end_stream):
        body = {"at_load": self.config["at_load"], "in_hook": self.read()}
        unseen = headers.get("x-unseen")
        if unseen:
            body["unseen"] = runtime.get_int(unseen, 3)
        return self.callbacks.send_local_reply(200, json.dumps(body))
