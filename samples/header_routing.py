"""Canary routing by user: requests of the users named in the filter config (comma-separated)
get the request header ``x-route-to: canary``, and the route is chosen again
(``clear_route_cache``), so that a route matching that header sends them to the canary cluster:

    routes:
    - match: {prefix: /, headers: [{name: x-route-to, string_match: {exact: canary}}]}
      route: {cluster: canary}
    - match: {prefix: /}
      route: {cluster: stable}

The variant is also recorded in the dynamic metadata (``envoy_pyext.routing: variant``, for
``%DYNAMIC_METADATA(envoy_pyext.routing:variant)%`` in access logs) and returned in the response
header ``x-variant``.
"""

from envoy_pyext import Filter, HeaderMap


class CanaryRouting(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> frozenset[str]:
        return frozenset(u.strip() for u in raw.split(",") if u.strip())

    variant = "stable"

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        headers.remove("x-route-to")    # only this filter decides
        if headers.get("x-user") in self.config:
            self.variant = "canary"
            headers["x-route-to"] = "canary"
        # Envoy chose the route before the filter chain ran: choose again after the change.
        self.callbacks.clear_route_cache()
        self.metadata.set("envoy_pyext.routing", "variant", self.variant)

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        headers["x-variant"] = self.variant
