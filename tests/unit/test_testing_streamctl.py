"""FilterTester's callbacks.reset_stream / recreate_stream / send_go_away_and_close: the same
filter as the real-Envoy tests (tests/integration/test_context_control.py), the same rules: the
stream ends for the filter (no later hook, a second end refused, StreamDestroyedError after
destroy), from sync, async and RUNNING-thread hooks; a recreate of a request whose body has not
arrived is refused and the stream goes on."""

import pytest

from envoy_pyext.testing import FilterTester
from tests.integration.filters.context_control import EVENTS, Control

MODES = ["sync", "async", "thread"]


@pytest.fixture
def tester():
    EVENTS.clear()
    yield FilterTester(Control)
    EVENTS.clear()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("do, go_away", [("reset", None), ("goaway", True),
                                         ("goaway-hard", False)])
def test_reset_and_goaway_end_the_stream(tester, mode, do, go_away):
    r = tester.request("GET", "/", headers={"x-do": do, "x-mode": mode})
    assert r.client.reset and r.upstream is None and r.errors == []
    assert r.client.details == ("py_reset" if do == "reset" else "envoy_pyext_go_away")
    assert r.go_away is go_away and r.recreated is None
    tag = f"{do}:{mode}"
    assert EVENTS == ["second:True", f"destroyed:{tag}"] + [f"late-destroyed:{tag}"] * 3


@pytest.mark.parametrize("mode", MODES)
def test_recreate_of_a_whole_request_is_recorded(tester, mode):
    r = tester.request("GET", "/", headers={"x-do": "recreate", "x-mode": mode})
    assert r.recreated == [] and r.upstream is None and not r.client.reset
    assert r.errors == []
    assert EVENTS[:2] == ["second:True", f"destroyed:recreate:{mode}"]


def test_recreate_before_the_body_is_refused_and_the_stream_goes_on(tester):
    r = tester.request("POST", "/", headers={"x-do": "recreate", "x-mode": "sync"},
                       body=b"abc", response=(200, {}, b"ok"))
    assert r.recreated is None and r.client.status == 200
    assert r.upstream.headers["x-refused"] == "1" and r.upstream.body == b"abc"
    assert EVENTS[:2] == ["refused:sync:True", "decode_data:recreate:sync:3"]
    assert "encode_headers:recreate:sync" in EVENTS


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_recreate_from_a_pending_hook_takes_the_whole_request(tester, mode):
    # As in Envoy: the body arrived while the hook was pending; the recreate takes it along.
    r = tester.request("POST", "/", headers={"x-do": "recreate", "x-mode": mode}, body=b"abc")
    assert r.recreated == [] and r.upstream is None and r.errors == []
    assert EVENTS[:2] == ["second:True", f"destroyed:recreate:{mode}"]
