"""Buffer against a bytes model, over bodies split into several slices."""

import array
import ctypes
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envoy_pyext import StreamDestroyedError

from . import filters
from tests.fakehost.driver import BT_BUFFERED_REQUEST, Config, Stream

DATA = st.binary(max_size=40)
OPS = st.one_of(
    st.tuples(st.just("set"), DATA),
    st.tuples(st.just("set"), DATA.map(bytearray)),
    st.tuples(st.just("set"), DATA.map(memoryview)),
    st.tuples(st.just("append"), DATA),
    st.tuples(st.just("append"), DATA.map(bytearray)),
    st.tuples(st.just("prepend"), DATA),
    st.tuples(st.just("drain"), st.integers(0, 60)),
    st.tuples(st.just("clear")),
)


@pytest.fixture(scope="module")
def config():
    cfg = Config("tests.unit.filters:CaptureHolding")  # writes need held headers
    yield cfg
    cfg.destroy()


def body_view(stream, chunks):
    """A Buffer over Envoy's buffered request body made of `chunks` (outside any hook, the
    request held by STOP_AND_BUFFER so that the body may be written)."""
    for c in chunks:
        stream.add_chunk(BT_BUFFERED_REQUEST, c)
    filters.captured.clear()
    stream.request_headers()
    f = filters.captured[-1]
    return f, f.request_body


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), max_size=5), st.lists(OPS, max_size=15))
def test_buffer_matches_bytes_model(config, chunks, ops):
    with Stream(config) as s:
        _, buf = body_view(s, chunks)
        model = b"".join(chunks)
        for op in ops:
            if op[0] == "set":
                buf.set(op[1])
                model = bytes(op[1])
            elif op[0] == "append":
                buf.append(op[1])
                model += bytes(op[1])
            elif op[0] == "prepend":
                buf.prepend(op[1])
                model = op[1] + model
            elif op[0] == "drain":
                buf.drain(op[1])
                model = model[op[1]:]
            else:
                buf.clear()
                model = b""
            assert len(buf) == len(model)
        assert bytes(buf) == model
        assert buf.to_bytes() == model
        assert buf.to_bytearray() == bytearray(model)
        with memoryview(buf) as mv:
            assert mv.tobytes() == model
            assert mv.readonly
        assert s.body(BT_BUFFERED_REQUEST) == model


def test_memoryview_is_zero_copy_for_one_slice(config):
    with Stream(config) as s:
        _, buf = body_view(s, [b"single slice"])
        with memoryview(buf) as a, memoryview(buf) as b:
            # both views point at the same (Envoy-owned) memory, not at fresh copies
            assert a.tobytes() == b"single slice"
            assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b"single slice").hexdigest()


def test_memoryview_refuses_writable(config):
    with Stream(config) as s:
        _, buf = body_view(s, [b"abc"])
        # a writable export is refused (ctypes reports the BufferError as TypeError)
        with pytest.raises((BufferError, TypeError), match="not writable|read-only"):
            (ctypes.c_char * 3).from_buffer(buf)
        assert bytes(buf) == b"abc"


def test_str_is_utf8_and_bad_types_refused(config):
    with Stream(config) as s:
        _, buf = body_view(s, [])
        buf.set("é")
        assert bytes(buf) == "é".encode()
        with pytest.raises(TypeError):
            buf.append(12)
        buf.drain(-1)  # a negative count clears, like one larger than the body
        assert bytes(buf) == b""
        buf.set(b"abc")
        buf.drain(10)
        assert bytes(buf) == b""


def test_buffer_after_destroy_raises(config):
    s = Stream(config)
    _, buf = body_view(s, [b"x"])
    s.free()
    for call in (lambda: len(buf), lambda: bytes(buf), lambda: buf.set(b"y"), lambda: memoryview(buf)):
        with pytest.raises(StreamDestroyedError):
            call()


def test_several_views_over_a_copied_body_each_keep_their_copy(config):
    # A body in several slices is exposed as a copy: a second view must not free the first's.
    with Stream(config) as s:
        _, buf = body_view(s, [b"abc" * 100, b"def" * 100])
        first = memoryview(buf)
        second = memoryview(buf)
        second.release()
        garbage = [bytes(600) for _ in range(100)]  # reuse freed memory if it was freed
        assert bytes(first) == b"abc" * 100 + b"def" * 100
        first.release()
        del garbage


def test_writes_take_any_buffer_object(config):
    # bytes-like objects are written as they are (Envoy copies them once); a view that is not
    # contiguous is copied first
    with Stream(config) as s:
        _, buf = body_view(s, [b"old"])
        buf.set(bytearray(b"from bytearray"))
        assert bytes(buf) == b"from bytearray"
        buf.set(memoryview(b"--from a view--")[2:-2])
        assert bytes(buf) == b"from a view"
        buf.append(array.array("B", b" + array"))
        assert bytes(buf) == b"from a view + array"
        buf.set(memoryview(b"a-b-c-")[::2])
        assert bytes(buf) == b"abc"
        assert s.body(BT_BUFFERED_REQUEST) == b"abc"


@pytest.mark.parametrize("chunks", [[b"one slice body"], [b"two ", b"slices", b" body"]],
                         ids=["zero-copy view", "copied view"])
def test_set_from_a_view_of_the_body_itself(config, chunks):
    # set() drains the body before it appends: a view into the body's own memory is copied
    # first, never read after it was drained
    with Stream(config) as s:
        _, buf = body_view(s, chunks)
        whole = b"".join(chunks)
        with memoryview(buf) as view, view[4:] as tail:
            buf.set(tail)
        assert bytes(buf) == whole[4:]
        with memoryview(buf) as view:
            buf.append(view)
        assert bytes(buf) == whole[4:] * 2
        buf.set(buf)
        assert bytes(buf) == whole[4:] * 2


def test_to_bytearray_copies_once_to_edit_and_set_back(config):
    # more slices than the runtime reads without a heap array
    chunks = [bytes([97 + i % 26]) * (i + 1) for i in range(40)]
    with Stream(config) as s:
        _, buf = body_view(s, chunks)
        whole = b"".join(chunks)
        assert bytes(buf) == whole
        data = buf.to_bytearray()
        assert type(data) is bytearray and data == whole
        data[:3] = b"XYZ"
        assert bytes(buf) == whole      # a copy: Envoy's body changes only with set()
        buf.set(data)
        assert s.body(BT_BUFFERED_REQUEST) == b"XYZ" + whole[3:]
        buf.clear()
        assert buf.to_bytearray() == bytearray()
