"""Asks an authorization service, through an Envoy cluster, whether a request may pass.

filter_config: '{"cluster": "authz", "path": "/check", "timeout": 0.2}'. The service gets the
method, path and user (POST, JSON) and answers 200 to allow (its `x-authz-user` header is
passed upstream) or anything else to deny (403). No answer within `timeout` seconds: 504.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from envoy_pyext import CalloutError, Filter, HeaderMap, Status


class AuthzCallout(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> Any:
        cfg = {"cluster": "authz", "path": "/check", "timeout": 0.2, **json.loads(raw or "{}")}
        if float(cfg["timeout"]) <= 0:
            raise ValueError("timeout must be positive")
        return cfg

    async def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        cfg = self.config
        user = headers.get("x-user", "")
        question = {"method": headers.get(":method"), "path": headers.get(":path"), "user": user}
        try:
            async with asyncio.timeout(cfg["timeout"]):
                answer = await self.http_call(
                    cfg["cluster"], "POST", cfg["path"], body=json.dumps(question),
                    headers={"content-type": "application/json"}, timeout=5.0)
        except TimeoutError:
            return self.callbacks.send_local_reply(504, body=b"authorization timed out\n")
        except CalloutError as e:
            self.callbacks.log("error", f"authorization service unreachable: {e}")
            return self.callbacks.send_local_reply(503, body=b"authorization unavailable\n")
        if answer.status != 200:
            return self.callbacks.send_local_reply(403, body=b"denied\n")
        headers["x-authz-user"] = answer.get("x-authz-user", user)
        return None
