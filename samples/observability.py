"""Observability without a side server: request counts, in-flight requests and latency per
route as Envoy metrics (admin ``/stats/prometheus``), and one access-log style line per request
in Envoy's log, from ``self.stream_info``.

    envoy_dynamicmodulescustom_requests_total{route="api",method="GET",code="200"} 12
    envoy_dynamicmodulescustom_request_duration_ms_bucket{route="api",le="5"} 11

The filter config (``filter_config``) is optional: ``"headers"`` also adds the upstream host
and the route to the response (``x-upstream-host``, ``x-route``), for debugging.
"""

from envoy_pyext import Counter, Filter, Gauge, HeaderMap, Histogram


class Observe(Filter):
    requests = Counter("requests_total", labels=("route", "method", "code"))
    inflight = Gauge("requests_inflight")
    latency = Histogram("request_duration_ms", labels=("route",))

    method = "-"
    path = "-"
    counted = False

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self.method = headers.get(":method", "-")
        self.path = headers.get(":path", "-")
        self.inflight.inc()
        self.counted = True

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        if self.config == "headers":
            headers["x-upstream-host"] = self.stream_info.upstream_host or "-"
            headers["x-route"] = self.stream_info.route_name or "-"

    def on_log(self) -> None:
        si = self.stream_info
        route = si.route_name or "-"
        code = si.response_code or 0
        if self.counted:
            self.inflight.dec()
        self.requests.inc(route=route, method=self.method, code=code)
        duration_ms = (si.duration or 0.0) * 1000
        self.latency.record(duration_ms, route=route)
        self.callbacks.log(
            "info", f"{si.downstream_remote_address} {self.method} {self.path} {code} "
                    f"route={route} upstream={si.upstream_host or '-'} "
                    f"{si.protocol} {duration_ms:.1f}ms id={si.request_id}")
