"""Buffer.translate/upper/lower: in-place edits of the body, against bytes' own methods, in the
runtime (the fake host's body in several slices) and in envoy_pyext.testing's FilterTester."""

from __future__ import annotations

import array
import ctypes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envoy_pyext import Filter, Status, StreamDestroyedError
from envoy_pyext.testing import FilterTester

from .test_buffer import body_view
from tests.fakehost.driver import BT_BUFFERED_REQUEST, BT_RECEIVED_REQUEST, Config, Stream

ROT13 = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                        b"nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM")
# bodies long enough for the vectorised blocks (32 bytes) and their tails, in up to 20 slices
# (more than the 16 the runtime reads without a heap array)
CHUNKS = st.lists(st.binary(min_size=1, max_size=80), max_size=20)
EDITS = st.one_of(st.just(("upper",)), st.just(("lower",)),
                  st.tuples(st.just("translate"), st.binary(min_size=256, max_size=256)),
                  st.just(("translate", ROT13)))


def apply(target, edit):
    """The edit on a Buffer (in place) or on bytes (returns the result)."""
    if edit[0] == "translate":
        return target.translate(edit[1])
    return getattr(target, edit[0])()


def bad_table_error(table) -> tuple[type, str]:
    """What bytes.translate raises for `table`: the errors Buffer.translate gives."""
    try:
        b"x".translate(table)
    except (TypeError, ValueError) as e:
        return type(e), str(e)
    raise AssertionError(f"{table!r} is a good table")


BAD_TABLES = [bytes(255), bytes(257), b"", 12, "a" * 256, [0] * 256]


@pytest.fixture(scope="module")
def config():
    """CaptureHolding holds the request (STOP_AND_BUFFER): its body may be written."""
    cfg = Config("tests.unit.filters:CaptureHolding")
    try:
        yield cfg
    finally:
        cfg.destroy()


def held_body(stream, chunks):
    """The Buffer over Envoy's buffered request body, made of `chunks`, the request held."""
    return body_view(stream, chunks)[1]


@settings(max_examples=200, deadline=None)
@given(CHUNKS, st.lists(EDITS, min_size=1, max_size=3))
def test_edits_match_bytes_methods_over_slices(config, chunks, edits):
    with Stream(config) as s:
        buf = held_body(s, chunks)
        model = b"".join(chunks)
        for edit in edits:
            assert apply(buf, edit) is None
            model = apply(model, edit)
        assert bytes(buf) == model
        assert s.body(BT_BUFFERED_REQUEST) == model


def test_edit_is_in_place(config):
    # a zero-copy view taken before the edit sees it: the slice itself was changed
    with Stream(config) as s:
        buf = held_body(s, [b"Hello, World! 123 " * 10])
        with memoryview(buf) as view:
            buf.upper()
            assert view.tobytes() == b"HELLO, WORLD! 123 " * 10
            buf.lower()
            assert view.tobytes() == b"hello, world! 123 " * 10
            buf.translate(ROT13)
            assert view.tobytes() == b"uryyb, jbeyq! 123 " * 10


def test_tables_any_buffer_object_or_none(config):
    with Stream(config) as s:
        buf = held_body(s, [b"abc", b"xyz"])
        buf.translate(bytearray(ROT13))
        assert bytes(buf) == b"nopklm"
        buf.translate(memoryview(ROT13))
        assert bytes(buf) == b"abcxyz"
        buf.translate(array.array("B", ROT13))
        assert bytes(buf) == b"nopklm"
        buf.translate(None)     # as bytes.translate(None): every byte to itself
        assert s.body(BT_BUFFERED_REQUEST) == b"nopklm"


@pytest.mark.parametrize("table", BAD_TABLES, ids=lambda t: f"{type(t).__name__}{len(t)}"
                         if hasattr(t, "__len__") else type(t).__name__)
def test_bad_tables_refused_like_bytes_translate(config, table):
    kind, message = bad_table_error(table)
    with Stream(config) as s:
        buf = held_body(s, [b"keep ", b"me"])
        with pytest.raises(kind) as e:
            buf.translate(table)
        assert str(e.value) == message
        assert s.body(BT_BUFFERED_REQUEST) == b"keep me"
    if kind is ValueError:
        assert message == "translation table must be 256 characters long"


class EditInData(Filter):
    """decode_data edits what it is given (Envoy's buffered body and the chunk received)."""

    def decode_data(self, buffer, end_stream):
        apply(buffer, ("translate", ROT13) if self.config == "rot13" else (self.config,))
        return Status.STOP_AND_BUFFER


@pytest.mark.parametrize("edit", ["upper", "rot13"])
def test_data_hook_edits_buffered_and_received(edit):
    cfg = Config("tests.unit.test_buffer_edit:EditInData", edit)
    try:
        with Stream(cfg) as s:
            s.request_headers()
            s.add_chunk(BT_BUFFERED_REQUEST, b"held part, ")
            s.add_chunk(BT_RECEIVED_REQUEST, b"chunk one, ")
            s.add_chunk(BT_RECEIVED_REQUEST, b"chunk two")
            s.request_body()
            model = (b"held part, ", b"chunk one, chunk two")
            want = [p.upper() if edit == "upper" else p.translate(ROT13) for p in model]
            assert s.body(BT_BUFFERED_REQUEST) == want[0]
            assert s.body(BT_RECEIVED_REQUEST) == want[1]
    finally:
        cfg.destroy()


def test_edits_after_destroy_raise(config):
    s = Stream(config)
    buf = held_body(s, [b"x" * 100])
    s.free()
    for call in (buf.upper, buf.lower, lambda: buf.translate(ROT13), lambda: buf.translate(None)):
        with pytest.raises(StreamDestroyedError):
            call()
    with pytest.raises(ValueError):     # a bad table is refused first, whatever the stream
        buf.translate(b"short")


def test_views_stay_read_only(config):
    # translate is the one way to write in place: a writable export is still refused
    with Stream(config) as s:
        buf = held_body(s, [b"abc"])
        with pytest.raises((BufferError, TypeError)):
            (ctypes.c_char * 3).from_buffer(buf)


# ---- envoy_pyext.testing's fake Buffer ----------------------------------------------------

class EditsInTester(Filter):
    """Request chunks rot13'd as they pass (streaming), the response buffered and upper-cased;
    the errors of bad tables kept for the test."""

    errors: list = []

    def decode_data(self, buffer, end_stream):
        buffer.translate(ROT13)
        for table in BAD_TABLES:
            try:
                buffer.translate(table)
            except (TypeError, ValueError) as e:
                EditsInTester.errors.append((type(e), str(e)))
        EditsInTester.kept = buffer

    def encode_data(self, buffer, end_stream):
        if not end_stream:
            return Status.STOP_AND_BUFFER
        buffer.upper()
        return None


def echo_lower(req):
    from envoy_pyext.testing import Response
    return Response(200, {}, req.body.lower() + b" Back")


def test_tester_buffer_edits_like_the_runtime():
    EditsInTester.errors = []
    r = FilterTester(EditsInTester).request("POST", "/", chunks=[b"Hello ", b"World"],
                                          response=echo_lower)
    assert r.upstream.body == b"Uryyb Jbeyq"
    assert r.client.body == b"URYYB JBEYQ BACK"
    assert EditsInTester.errors == [bad_table_error(t) for t in BAD_TABLES] * 3  # 3 data calls
    with pytest.raises(StreamDestroyedError):
        EditsInTester.kept.upper()
