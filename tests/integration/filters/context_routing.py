"""Filters using the routing controls (tests/integration/test_context_routing.py)."""

import asyncio

from envoy_pyext import Filter


class Steer(Filter):
    """x-want: side sets x-target: side (the route config sends that to the "side" cluster);
    x-clear: 1 clears the route cache so that the change re-routes; x-async: 1 does it in a
    coroutine after it left the worker. x-pick: ip:port overrides the upstream host (x-strict:
    1 strictly). The route seen in encode_headers goes out in x-route."""

    def decode_headers(self, headers, end_stream):
        if headers.get("x-async") == "1":
            return self._later(headers)
        self._steer(headers)
        return None

    async def _later(self, headers):
        await asyncio.sleep(0.001)
        self._steer(headers)

    def _steer(self, headers):
        if headers.get("x-want") == "side":
            headers["x-target"] = "side"
        if headers.get("x-clear") == "1":
            self.callbacks.clear_route_cache()
        pick = headers.get("x-pick")
        if pick:
            self.callbacks.set_upstream_override_host(pick, strict=headers.get("x-strict") == "1")
        self.callbacks.add_response_flag("PY_STEERED")
        errors = []
        for bad in (lambda: self.callbacks.set_upstream_override_host("nohost"),
                    lambda: self.callbacks.set_upstream_override_host("1.2.3.4:99999"),
                    lambda: self.callbacks.add_response_flag("has space")):
            try:
                bad()
            except ValueError:
                errors.append("ValueError")
        self.errors = ",".join(errors)

    def encode_headers(self, headers, end_stream):
        headers["x-errors"] = self.errors
        headers["x-route"] = self.stream_info.route_name or "-"
        headers["x-upstream"] = self.stream_info.upstream_host or "-"
