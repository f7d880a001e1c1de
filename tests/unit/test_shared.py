"""envoy_pyext.shared: the process-wide store (values and atomic counters). Across workers'
interpreters in a real Envoy: tests/integration/test_interpreters.py."""

import threading

import pytest

from envoy_pyext import shared


@pytest.fixture(autouse=True)
def empty_store():
    shared.clear()
    yield
    shared.clear()


def test_values_are_set_read_and_deleted():
    assert shared.get("k") is None
    assert shared.get("k", b"default") == b"default"
    shared.set("k", b"v1")
    shared.set("text", "é")
    assert shared.get("k") == b"v1"
    assert shared.get("text") == "é".encode()
    assert shared.keys() == ["k", "text"]
    assert shared.delete("k") is True
    assert shared.delete("k") is False
    assert shared.keys() == ["text"]


def test_compare_and_set():
    assert shared.compare_and_set("leader", None, b"a") is True    # only if unset
    assert shared.compare_and_set("leader", None, b"b") is False
    assert shared.compare_and_set("leader", b"x", b"b") is False   # not the current value
    assert shared.compare_and_set("leader", b"a", b"b") is True
    assert shared.get("leader") == b"b"


def test_counters_are_separate_from_values():
    assert shared.counter("hits") == 0
    assert shared.incr("hits") == 1
    assert shared.incr("hits", 41) == 42
    assert shared.incr("hits", -2) == 40
    assert shared.get("hits") is None
    assert shared.counters() == {"hits": 40}


def test_increments_from_threads_are_atomic():
    per_thread, threads = 2000, 4
    start = threading.Barrier(threads)

    def work():
        start.wait()
        for _ in range(per_thread):
            shared.incr("n")

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert shared.counter("n") == per_thread * threads


@pytest.mark.parametrize("call", [
    lambda: shared.set("", b"v"),
    lambda: shared.get(b"bytes-key"),   # type: ignore[arg-type]
    lambda: shared.set("k", 3),          # type: ignore[arg-type]
    lambda: shared.incr(None),           # type: ignore[arg-type]
])
def test_bad_keys_and_values_are_type_errors(call):
    with pytest.raises(TypeError):
        call()
    assert shared.keys() == [] and shared.counters() == {}


def test_an_increment_is_a_64_bit_integer():
    with pytest.raises(OverflowError):
        shared.incr("big", 2**63)
    assert shared.counter("big") == 0
