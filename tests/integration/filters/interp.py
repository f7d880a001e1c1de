"""Filters for tests/integration/test_interpreters.py: which interpreter runs them."""

import sys
import threading

import envoy_pyext
from envoy_pyext import Counter, Filter, Gauge, Histogram, shared

try:
    import _interpreters as _interp_mod  # CPython 3.13
except ImportError:  # pragma: no cover (3.12; 3.11 has no per-worker mode)
    import _xxsubinterpreters as _interp_mod

_served = 0   # module state: one per interpreter


def interpreter_id() -> int:
    current = _interp_mod.get_current()
    return int(current[0] if isinstance(current, tuple) else current)


class WhoAmI(Filter):
    """Reports its interpreter, thread and counters in request headers (the upstream echoes
    them)."""

    @classmethod
    def parse_config(cls, raw):
        shared.incr(f"interp_test.{raw}.parse_config")
        return raw

    def decode_headers(self, headers, end_of_stream):
        global _served
        _served += 1
        headers["x-interp-id"] = str(interpreter_id())
        headers["x-interp-sub"] = "1" if envoy_pyext.in_subinterpreter() else "0"
        headers["x-interp-served"] = str(_served)
        headers["x-thread"] = str(threading.get_native_id())
        headers["x-shared-count"] = str(shared.incr(f"interp_test.{self.config}.requests"))
        headers["x-parse-count"] = str(shared.counter(f"interp_test.{self.config}.parse_config"))
        headers["x-python"] = "%d.%d" % sys.version_info[:2]


class Answer(Filter):
    """x-answer-by: <its config> answers 403 itself; every local reply is logged with the
    interpreter that saw it (a hook of one interpreter runs inside another's call)."""

    def decode_headers(self, headers, end_stream):
        if headers.get("x-answer-by") == self.config:
            return self.callbacks.send_local_reply(403, b"no\n", details=f"by_{self.config}")
        return None

    def on_local_reply(self, status_code, details, reset_imminent):
        where = "sub" if envoy_pyext.in_subinterpreter() else "main"
        self.callbacks.log("info", f"local reply {status_code} {details} seen by "
                                   f"{self.config} in {where}")


class WantsSecret(Filter):
    """Subscribes to a secret in parse_config: refused per worker (Envoy's config object)."""

    @classmethod
    def parse_config(cls, raw, context):
        context.secret("token")
        return raw


class Metered(Filter):
    """Envoy metrics from every worker's interpreter (defined once, when the config loaded):
    counts each request by interpreter kind, records a histogram, sets a gauge; ``x-raise``
    raises (the runtime's error counter)."""

    requests = Counter("interp_requests_total", labels=("sub",))
    level = Gauge("interp_level")
    sizes = Histogram("interp_header_count")

    def decode_headers(self, headers, end_of_stream):
        if headers.get("x-raise"):
            raise RuntimeError("asked to fail")
        self.requests.inc(sub="1" if envoy_pyext.in_subinterpreter() else "0")
        self.level.set(5)
        self.sizes.record(len(headers))
        headers["x-thread"] = str(threading.get_native_id())
        headers["x-interp-id"] = str(interpreter_id())


class MeteredOther(Metered):
    """A second class with its own metric next to the inherited ones."""

    extra = Counter("interp_extra_total")

    def decode_headers(self, headers, end_of_stream):
        self.extra.inc()
        return super().decode_headers(headers, end_of_stream)


class Drifting(Filter):
    """Declares one metric more in every interpreter but the first that imports it (module
    state that differs per interpreter): that interpreter cannot use the configuration."""

    requests = Counter("drift_requests_total")
    if shared.incr("interp_test.drifting.imports") > 1:
        late = Counter("drift_late_total")

    def decode_headers(self, headers, end_of_stream):
        self.requests.inc()
