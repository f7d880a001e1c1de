"""HeaderMap against a simple model (a dict of lists), through the production Cython code and
the fake host."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envoy_pyext
from envoy_pyext import StreamDestroyedError, WrongThreadError

from . import filters
from tests.fakehost.driver import HT_REQUEST_HEADERS, Config, Stream

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~",
                min_size=1, max_size=12)
NAMES = st.sampled_from(["x-a", "X-A", "x-b", "content-type", "x-multi"]) | TOKEN
# Control characters (tab allowed) are refused: test_invalid_values_raise covers them.
CONTROL = "".join(chr(c) for c in [*range(0x20), 0x7F] if c != 0x09)
VALUES = st.text(alphabet=st.characters(blacklist_characters=CONTROL, blacklist_categories=("Cs",)),
                 min_size=1, max_size=20)

OPS = st.one_of(
    st.tuples(st.just("set"), NAMES, VALUES),
    st.tuples(st.just("add"), NAMES, VALUES),
    st.tuples(st.just("remove"), NAMES),
    st.tuples(st.just("del"), NAMES),
)


@pytest.fixture(scope="module")
def config():
    cfg = Config("tests.unit.filters:Capture")
    yield cfg
    cfg.destroy()


def captured_headers(stream):
    filters.captured.clear()
    stream.request_headers()
    return filters.captured[-1].request_headers


class Model:
    def __init__(self):
        self.items: list[tuple[str, str]] = []

    def set(self, name, value):
        name = name.lower()
        first = next((i for i, (k, _) in enumerate(self.items) if k == name), None)
        if first is None:
            self.items.append((name, value))
        else:
            self.items[first] = (name, value)
            self.items = [kv for i, kv in enumerate(self.items) if i <= first or kv[0] != name]

    def add(self, name, value):
        self.items.append((name.lower(), value))

    def remove(self, name):
        self.items = [kv for kv in self.items if kv[0] != name.lower()]

    def get_all(self, name):
        return [v for k, v in self.items if k == name.lower()]

    def keys(self):
        return list(dict.fromkeys(k for k, _ in self.items))


@settings(max_examples=200, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_headermap_matches_model(config, ops):
    with Stream(config) as s:
        h = captured_headers(s)
        model = Model()
        for op in ops:
            if op[0] == "set":
                h.set(op[1], op[2])
                model.set(op[1], op[2])
            elif op[0] == "add":
                h.add(op[1], op[2])
                model.add(op[1], op[2])
            elif op[0] == "remove":
                h.remove(op[1])
                model.remove(op[1])
            else:
                present = bool(model.get_all(op[1]))
                if present:
                    del h[op[1]]
                    model.remove(op[1])
                else:
                    with pytest.raises(KeyError):
                        del h[op[1]]
        assert h.items() == model.items
        assert h.keys() == model.keys()
        assert len(h) == len(model.keys())
        for name in set(model.keys()) | {"x-absent"}:
            assert h.get_all(name) == model.get_all(name)
            assert h.get(name) == (model.get_all(name) or [None])[0]
            assert (name in h) == bool(model.get_all(name))
            assert h.get(name.upper(), "dflt") == (model.get_all(name) or ["dflt"])[0]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=30).filter(
    lambda b: not set(b) & {c for c in [*range(0x20), 0x7F] if c != 0x09}))
def test_any_bytes_round_trip(config, raw):
    with Stream(config) as s:
        h = captured_headers(s)
        h["x-raw"] = raw
        assert h.get_bytes("x-raw") == raw
        text = h.get("x-raw")  # str; undecodable bytes become lone surrogates
        h["x-copy"] = text
        assert h.get_bytes("x-copy") == raw
        assert dict(s.headers())[b"x-copy"] == raw


@pytest.mark.parametrize("name", ["bad name", "x:y", "", "é", "x\r", ":"])
def test_invalid_names_raise_and_write_nothing(config, name):
    with Stream(config) as s:
        h = captured_headers(s)
        with pytest.raises(ValueError):
            h[name] = "v"
        with pytest.raises(ValueError):
            h.add(name, "v")
        assert s.headers() == []


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", b"a\r\nb", "", b"", "a\x01b",
                                   b"\x1f", "del\x7f", "esc\x1b[0m"])
def test_invalid_values_raise_and_write_nothing(config, value):
    with Stream(config) as s:
        h = captured_headers(s)
        with pytest.raises(ValueError):
            h["x-v"] = value
        with pytest.raises(ValueError):
            h.add("x-v", value)
        assert s.headers() == []


def test_wrong_types_raise_type_error(config):
    with Stream(config) as s:
        h = captured_headers(s)
        with pytest.raises(TypeError):
            h[1] = "v"
        with pytest.raises(TypeError):
            h["x"] = 1.5
        h["x-int"] = 42
        assert h["x-int"] == "42"


def test_pseudo_headers(config):
    with Stream(config, headers=[(":path", "/a"), (":method", "GET")]) as s:
        h = captured_headers(s)
        assert h[":path"] == "/a"
        h[":path"] = "/b"
        assert (b":path", b"/b") in s.headers()


def test_views_raise_after_destroy(config):
    s = Stream(config, headers={"x-a": "1"})
    h = captured_headers(s)
    f = filters.captured[-1]
    assert h["x-a"] == "1"
    s.free()
    for call in (lambda: h.get("x-a"), lambda: h.set("x-a", "2"), lambda: h.items(),
                 lambda: len(h), lambda: f.callbacks.send_local_reply(500),
                 lambda: f.request_headers.get("x-a")):
        with pytest.raises(StreamDestroyedError):
            call()
    assert "destroyed" in repr(h)


def test_views_refuse_other_threads(config):
    with Stream(config, headers={"x-a": "1"}) as s:
        h = captured_headers(s)
        errors = []
        t = threading.Thread(target=lambda: errors.append(pytest.raises(WrongThreadError, h.get, "x-a")))
        t.start()
        t.join()
        assert errors and errors[0].type is WrongThreadError
        assert h.get("x-a") == "1"


def test_views_cannot_be_constructed():
    with pytest.raises(TypeError):
        envoy_pyext.HeaderMap()
    with pytest.raises(TypeError):
        envoy_pyext.Buffer()


def test_tab_and_obs_text_values_are_allowed(config):
    with Stream(config) as s:
        h = captured_headers(s)
        h["x-v"] = b"a\tb\x80\xff"
        assert h.get_bytes("x-v") == b"a\tb\x80\xff"


@pytest.fixture(scope="module")
def hook_config():
    cfg = Config("tests.unit.filters:HookOps")
    yield cfg
    cfg.destroy()


IN_HOOK_OPS = st.one_of(
    st.tuples(st.sampled_from(["get", "in", "remove"]), NAMES),
    st.tuples(st.sampled_from(["set", "add"]), NAMES, VALUES),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(IN_HOOK_OPS, max_size=25))
def test_headermap_inside_a_hook_matches_model(hook_config, ops):
    """Inside one hook a view answers from what its last walk over the map saw (reads of absent
    names, set() of a name the map lacks): every answer and the final map are the model's."""
    start = [("x-a", "0"), ("content-type", "text/plain"), ("x-multi", "1"), ("x-multi", "2")]
    model = Model()
    for k, v in start:
        model.add(k, v)
    expected = []
    for op, name, *value in ops:
        if op == "get":
            expected.append((model.get_all(name) or [None])[0])
        elif op == "in":
            expected.append(bool(model.get_all(name)))
        elif op == "remove":
            model.remove(name)
        else:
            getattr(model, op)(name, value[0])
    filters.hook_ops[:] = ops
    with Stream(hook_config, headers=start) as s:
        s.request_headers()
        assert filters.hook_results == expected
        assert s.headers() == [(k.encode(), v.encode()) for k, v in model.items]


def test_names_seen_in_one_hook_are_not_trusted_in_the_next(hook_config):
    """A name absent in decode_headers that Envoy adds before decode_data: set() there replaces
    it (a walk again), never adds a second value."""
    filters.hook_ops[:] = [("get", "x-late"), ("set", "x-other", "1")]
    with Stream(hook_config, headers={"x-a": "1"}) as s:
        s.request_headers()
        assert filters.hook_results == [None]
        s.add_header(HT_REQUEST_HEADERS, "x-late", "1")  # Envoy (another filter) between the two hooks
        s.request_body(end_of_stream=True)
        assert [v for k, v in s.headers() if k == b"x-late"] == [b"2"]
