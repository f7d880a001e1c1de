"""Stream objects reused (native/reuse.pxi): a stream's _Stream, Filter and views go to the
next stream of the config when nothing else holds them, and the next stream cannot tell."""

import pytest

import envoy_pyext
from envoy_pyext import StreamDestroyedError

from . import reuse_filters as rf

from tests.fakehost.driver import HT_RESPONSE_HEADERS, Config, Stream


@pytest.fixture(autouse=True)
def _clear():
    rf.seen.clear()
    rf.kept.clear()
    yield
    rf.seen.clear()
    rf.kept.clear()


def run(cfg, n):
    with Stream(cfg, {"x-n": str(n)}) as s:
        s.set_has_map(HT_RESPONSE_HEADERS, True)
        s.request_headers(True)
        s.response_headers(True)
        return dict(s.headers(HT_RESPONSE_HEADERS)).get(b"x-user")


def test_the_next_stream_gets_the_objects_back_as_new():
    cfg = Config("tests.unit.reuse_filters:Plain")
    before = envoy_pyext.stats()
    assert [run(cfg, n) for n in range(3)] == [b"0", b"1", b"2"]
    after = envoy_pyext.stats()
    ids = {i for i, *_ in rf.seen}
    assert len(ids) == 1, rf.seen                     # one Filter for the three streams
    assert after["streams_reused"] == before["streams_reused"] + 2
    # each stream found a Filter without attributes and the context as it started
    assert [(attrs, var, n) for _, attrs, var, n in rf.seen] == \
        [([], "unset", "0"), ([], "unset", "1"), ([], "unset", "2")]
    assert after["live_filters"] == before["live_filters"]   # the spare one is not in use
    cfg.destroy()


def test_init_runs_for_every_stream():
    cfg = Config("tests.unit.reuse_filters:WithInit")
    before = envoy_pyext.stats()["streams_reused"]
    for n in range(3):
        run(cfg, n)
    assert [x for x in rf.seen if x[0] == "init"] == [("init", 1)] * 3
    assert envoy_pyext.stats()["streams_reused"] == before + 2
    cfg.destroy()


@pytest.mark.parametrize("name", ["KeepsSelf", "KeepsWeakref", "HasDel", "HasSlots", "HasNew"])
def test_a_filter_someone_else_can_reach_is_never_reused(name):
    cfg = Config(f"tests.unit.reuse_filters:{name}")
    before = envoy_pyext.stats()["streams_reused"]
    for n in range(3):
        run(cfg, n)
    assert len(rf.seen) == 3
    assert envoy_pyext.stats()["streams_reused"] == before
    if name == "KeepsWeakref":
        assert all(r() is None for r in rf.kept)   # freed as before: reference counting
    rf.kept.clear()
    cfg.destroy()


def test_a_kept_view_stays_cut_off_and_its_stream_is_not_reused():
    cfg = Config("tests.unit.reuse_filters:KeepsHeaders")
    before = envoy_pyext.stats()["streams_reused"]
    run(cfg, 0)
    run(cfg, 1)
    assert envoy_pyext.stats()["streams_reused"] == before
    for h in rf.kept:
        with pytest.raises(StreamDestroyedError):
            h.get("x-n")
    rf.kept.clear()
    cfg.destroy()


def test_a_stream_finalised_after_its_config_was_destroyed_is_not_kept():
    cfg = Config("tests.unit.reuse_filters:Plain")
    run(cfg, 0)                      # one spare now
    s = Stream(cfg, {"x-n": "a"})
    s.request_headers(True)
    s.response_headers(True)
    before = envoy_pyext.stats()
    s.destroy(flush=False)           # waits for the worker's next GIL hold (the graveyard)
    cfg.destroy()                    # the spare goes (its Filter freed)
    assert envoy_pyext.stats()["live_filters"] == before["live_filters"]
    s.free()                         # finalised now: freed, not kept
    after = envoy_pyext.stats()
    assert after["live_filters"] == before["live_filters"] - 1
    assert after["streams_reused"] == before["streams_reused"]


def test_attributes_kept_as_a_new_object_keeps_them_are_emptied():
    # Filters set attributes without ever asking for __dict__: CPython keeps them in the
    # object's inline values (3.11, 3.12), which reuse empties in place.
    cfg = Config("tests.unit.reuse_filters:InlineAttrs")
    before = envoy_pyext.stats()["streams_reused"]
    assert [run(cfg, n) for n in range(4)] == [b"0", b"1", b"2", b"3"]
    starts = [x for x in rf.seen if isinstance(x[0], int)]
    assert len({x[0] for x in starts}) == 1                 # one Filter, reused three times
    assert [x[1:] for x in starts] == [(n, "unset", "unset", "unset") for n in range(4)]
    # every value went with its stream (freed when it ended), none stayed alive
    assert [x for x in rf.seen if x[0] == "freed"] == [("freed", n) for n in range(4)]
    # the insertion order starts over too: stream 2 set a, b, user (after stream 1's c, del b)
    assert ("vars", ["a", "b", "user"]) in rf.seen
    assert envoy_pyext.stats()["streams_reused"] == before + 3
    cfg.destroy()


def test_more_attributes_than_the_shared_key_table_holds_are_emptied():
    cfg = Config("tests.unit.reuse_filters:ManyAttrs")
    before = envoy_pyext.stats()["streams_reused"]
    assert [run(cfg, n) for n in range(3)] == [b"0", b"1", b"2"]
    assert len({i for i, _ in rf.seen}) == 1
    assert [found for _, found in rf.seen] == [[], [], []]
    assert envoy_pyext.stats()["streams_reused"] == before + 2
    cfg.destroy()
