"""Per-route configs through the real C++ hooks (the fake host): Envoy's per_route_config_new
gives a handle (C memory: the parsed object, the raw bytes, a serial), a stream whose most
specific per-route config is that handle reads the merge, a pointer that is not one of ours
reads None, a rejected one is NULL with the reason logged, and none of it shows in
envoy_pyext.shared (the live handles are in another space of the same store). A per_worker
interpreter's own parse of it: tests/integration/test_interpreters_config.py."""

import ctypes
import json
import threading

import pytest

from envoy_pyext import runtime, shared
from envoy_pyext._native import _route_configs_cached, _runtime_refresh

from tests.fakehost.driver import (HT_REQUEST_HEADERS, Config, Stream, logs, route_config_destroy,
                                   route_config_new)

CLASS = "tests.unit.testing_filters:PerRoute"


@pytest.fixture(autouse=True)
def empty_store():
    shared.clear()
    yield
    shared.clear()


def route_config_seen(cfg: Config, rc) -> object:
    with Stream(cfg, headers={":path": "/"}) as s:
        s.set_route_config(rc)
        s.request_headers(end_of_stream=True)
        seen = dict(s.headers(HT_REQUEST_HEADERS))[b"x-route-config"]
    return json.loads(seen)


def test_a_per_route_handle_is_read_and_merged():
    cfg = Config(CLASS, '{"base": 1, "level": 0}')
    first = route_config_new(CLASS, '{"level": 5}')
    same_bytes = route_config_new(CLASS, '{"level": 5}')
    other = route_config_new(CLASS, '{"level": 6}')
    try:
        assert first and same_bytes and other and len({first, same_bytes, other}) == 3
        assert route_config_seen(cfg, first) == {"base": 1, "level": 5}
        assert route_config_seen(cfg, other) == {"base": 1, "level": 6}
        assert route_config_seen(cfg, None) is None
        # The live handles are kept in the runtime's own space, not in envoy_pyext.shared.
        assert shared.keys() == [] and shared.counters() == {}
    finally:
        for rc in (first, same_bytes, other):
            route_config_destroy(rc)
        cfg.destroy()
    assert _route_configs_cached() == []   # the main interpreter keeps no per-worker parse


def test_a_pointer_that_is_not_ours_reads_none():
    cfg = Config(CLASS, "{}")
    foreign = ctypes.create_string_buffer(64)     # another module's per-route config
    destroyed = route_config_new(CLASS, '{"level": 1}')
    route_config_destroy(destroyed)
    try:
        assert route_config_seen(cfg, ctypes.addressof(foreign)) is None
        assert route_config_seen(cfg, destroyed) is None   # (Envoy never hands one over)
    finally:
        cfg.destroy()


def test_a_rejected_per_route_config_is_null_and_logged():
    assert route_config_new(CLASS, '{"bad": 1}') is None
    assert any("parse_route_config rejected the per-route filter_config: ValueError: bad route "
               "config" in m for _, m in logs()), logs()[-3:]
    assert route_config_new("no_colon", "{}") is None
    assert any("must name a class as 'package.module:ClassName'" in m for _, m in logs())


def test_runtime_values_are_kept_out_of_the_shared_store():
    assert runtime.get_int("unit.rt.limit", 5) == 5   # main thread: read (the fake: default)
    got = []
    t = threading.Thread(target=lambda: got.append(runtime.get_float("unit.rt.ratio", 0.5)))
    t.start()
    t.join()
    assert got == [0.5]             # off the main thread: the default, registered
    _runtime_refresh()
    assert runtime.get_int("unit.rt.limit", 5) == 5
    assert shared.keys() == []


@pytest.mark.parametrize("key", ["", "a\0b", 3])
def test_a_bad_runtime_key_is_refused(key):
    with pytest.raises(ValueError, match="a runtime key is a non-empty str without NUL"):
        runtime.get_bool(key)
