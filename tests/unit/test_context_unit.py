"""The hand-written google.protobuf.Struct encoder of self.metadata.set (metadata.pxi), checked
by decoding its output with a minimal protobuf reader written here from the wire format."""

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envoy_pyext import _native


def _varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def _fields(b):
    i = 0
    while i < len(b):
        tag, i = _varint(b, i)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        yield num, wire, v


def decode_value(b):
    (num, wire, v), = list(_fields(b))
    if num == 1:
        return None
    if num == 2:
        return struct.unpack("<d", v)[0]
    if num == 3:
        return v.decode()
    if num == 4:
        return bool(v)
    if num == 5:
        return decode_struct(v)
    assert num == 6
    return [decode_value(x) for n, _, x in _fields(v) if n == 1]


def decode_struct(b):
    out = {}
    for num, wire, entry in _fields(b):
        assert (num, wire) == (1, 2)
        kv = {n: x for n, _, x in _fields(entry)}
        out[kv[1].decode()] = decode_value(kv[2])
    return out


def test_every_value_type():
    d = {"s": "h\u00e9llo", "i": 3, "f": -0.25, "t": True, "n": None, "e": "",
         "l": [1, "two", False, None, [3]], "d": {"x": {"y": [{}]}}, "long": "x" * 300}
    got = decode_struct(_native._encode_struct(d))
    assert got == {**d, "i": 3.0, "l": [1.0, "two", False, None, [3.0]]}


def test_bad_values_are_refused():
    with pytest.raises(TypeError, match="a metadata value"):
        _native._encode_struct({"k": b"bytes"})
    with pytest.raises(TypeError, match="key must be a str"):
        _native._encode_struct({"k": {1: "x"}})
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        _native._encode_struct({"k": deep})


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_round_trip(d):
    def norm(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, float):
            return 0.0 if v == 0 else v     # -0.0 == 0.0 anyway
        if isinstance(v, list):
            return [norm(x) for x in v]
        return {k: norm(x) for k, x in v.items()}
    got = decode_struct(_native._encode_struct(d))
    assert norm(got) == norm(d)
    assert not any(isinstance(v, float) and math.isnan(v) for v in got.values())
