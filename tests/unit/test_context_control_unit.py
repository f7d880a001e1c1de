"""Tracing, secrets and runtime values without Envoy: FilterTester's defaults (untraced, no
secret delivered, runtime defaults) and its settable fakes; the runtime getters' checks."""

import pytest

from envoy_pyext import EnvoyPyextError, Filter, runtime
from envoy_pyext.testing import FilterTester, TestSpan, runtime_values


class Everything(Filter):
    @classmethod
    def parse_config(cls, raw, context):
        context.secret("api-key", {"path_config_source": {"path": "/x"}})
        context.secret("other")
        return {"limit": runtime.get_int("pyext.limit", 5)}

    def decode_headers(self, headers, end_stream):
        span = self.span
        headers["x-span"] = "none" if span is None else span.trace_id
        if span is not None:
            span.set_tag("k", "v")
            span.log("ev")
            with span.child("db") as c:
                c.set_tag("q", 1)
        key = self.secret("api-key")
        headers["x-secret"] = "none" if key is None else key.decode()
        headers["x-limit"] = str(self.config["limit"])
        headers["x-flag"] = str(runtime.get_bool("pyext.flag"))
        try:
            self.secret("unknown")
        except EnvoyPyextError as e:
            headers["x-error"] = str(e)[:40]


def test_tester_defaults_untraced_undelivered_default_runtime():
    t = FilterTester(Everything)
    r = t.request(headers={"x-a": "1"})
    seen = r.upstream.headers
    assert (seen["x-span"], seen["x-secret"], seen["x-limit"], seen["x-flag"]) == \
        ("none", "none", "5", "False")
    assert seen["x-error"] == "secret 'unknown' is not subscribed by th"
    assert t.config_context.secrets == {"api-key": {"path_config_source": {"path": "/x"}},
                                        "other": None}


def test_tester_span_secrets_runtime_fakes():
    with runtime_values({"pyext.limit": 9, "pyext.flag": True}):
        t = FilterTester(Everything)
        t.traced = True
        t.secrets = {"api-key": "s3"}
        seen = t.request().upstream.headers
        assert runtime.get_int("pyext.limit", 1) == 9
    assert runtime.get_int("pyext.limit", 1) == 1    # restored
    span = t.spans[0]
    assert isinstance(span, TestSpan) and seen["x-span"] == span.trace_id
    assert span.tags == {"k": "v"} and span.logs == ["ev"]
    assert [(c.operation, c.tags, c.finished) for c in span.children] == \
        [("db", {"q": "1"}, True)]
    assert (seen["x-secret"], seen["x-limit"], seen["x-flag"]) == ("s3", "9", "True")


@pytest.mark.parametrize("key, default, error", [
    ("", 1, "non-empty str"), (3, 1, "non-empty str"),
    ("k", -1, r"\[0, 2\*\*64\)"), ("k", True, r"\[0, 2\*\*64\)")])
def test_runtime_rejects_bad_keys_and_defaults(key, default, error):
    with pytest.raises(ValueError, match=error):
        runtime.get_int(key, default)


def test_runtime_outside_envoy_answers_defaults():
    assert runtime.get_bool("a.b", True) is True
    assert runtime.get_int("a.b", 2**64 - 1) == 2**64 - 1
    assert runtime.get_float("a.b", 0.5) == 0.5
