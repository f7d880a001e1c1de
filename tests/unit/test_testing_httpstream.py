"""FilterTester's fake of Filter.http_stream (envoy_pyext/_testhttpstream.py): streamed calls
answered by the tester's fake clusters (t.callouts), with the runtime's behaviour
(native/httpstream.pxi) as the filter sees it."""

from __future__ import annotations

import pytest

from envoy_pyext import CalloutResetError, Filter, HttpStream
from envoy_pyext.testing import FilterTester, Response, StreamRequest


class Streamer(Filter):
    """Streams two pieces to a cluster and reports what came back in x-result.

    x-mode: data (end_stream on the second piece), trailers (ended by trailers), headers (waits
    for the response without ending the request), leave (leaves the block after one piece),
    twice (sends after the request ended)."""

    async def decode_headers(self, headers, end_stream):
        mode = headers.get("x-mode", "data")
        out = []
        try:
            async with self.http_stream(headers.get("x-cluster", "svc"), "POST", "/up",
                                        headers={"x-k": "v"},
                                        timeout=float(headers.get("x-timeout", "5"))) as s:
                out.append(type(s) is not HttpStream and isinstance(s, HttpStream))
                if mode != "headers":
                    await s.send(b"part1")
                if mode == "trailers":
                    await s.send(bytearray(b"part2"))
                    await s.send_trailers({"x-sum": "2"})
                elif mode not in ("headers", "leave"):
                    await s.send(memoryview(b"part2"), end_stream=True)
                if mode == "twice":
                    await s.send(b"more")
                if mode != "leave":
                    await s.response_headers()
                    out.append(f"{s.status} {dict(s.headers).get('x-from', '-')}")
                    async for chunk in s:
                        out.append(chunk.decode())
                    out.append(repr(s.trailers))
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}")
        headers["x-result"] = "|".join(map(str, out))
        return None


def run(t: FilterTester, **headers: str) -> str:
    r = t.request(headers=headers)
    assert r.errors == [] and r.status == 200
    return r.upstream.headers["x-result"]


@pytest.fixture
def tester() -> FilterTester:
    t = FilterTester(Streamer)
    t.callouts.add("svc", "/up", response=lambda req: Response(
        200, {"x-from": "fake"}, chunks=[req.body.upper(), b"!"], trailers={"x-t": "1"}))
    return t


def test_a_streamed_call_sends_pieces_and_reads_chunks(tester):
    assert run(tester) == "True|200 fake|PART1PART2|!|[('x-t', '1')]"
    [call] = tester.callouts.calls
    assert isinstance(call, StreamRequest)
    assert (call.cluster, call.method, call.path) == ("svc", "POST", "/up")
    assert call.chunks == [b"part1", b"part2"] and call.body == b"part1part2"
    assert (call.complete, call.reset, call.trailers, call.timeout) == (True, False, [], 5.0)
    # As the runtime sends it: host defaults to the cluster; no content-length (streamed).
    assert call.headers["host"] == "svc" and call.headers["x-k"] == "v"
    assert "content-length" not in call.headers


def test_trailers_end_the_request(tester):
    assert run(tester, **{"x-mode": "trailers"}) == \
        "True|200 fake|PART1PART2|!|[('x-t', '1')]"
    [call] = tester.callouts.calls
    assert call.trailers == [("x-sum", "2")] and call.complete


def test_leaving_the_block_early_resets_the_call(tester):
    assert run(tester, **{"x-mode": "leave"}) == "True"
    [call] = tester.callouts.calls
    assert (call.chunks, call.complete, call.reset) == ([b"part1"], False, True)


def test_a_completed_call_is_not_reset(tester):
    run(tester)
    assert tester.callouts.calls[0].reset is False


def test_data_after_the_end_of_the_request_is_refused(tester):
    assert run(tester, **{"x-mode": "twice"}) == \
        "True|EnvoyPyextError: Envoy did not accept the data for the call (it ended?)"


def test_unknown_cluster_ends_the_call(tester):
    # Envoy refuses to start it: a send then finds the call ended; the response raises.
    assert run(tester, **{"x-cluster": "nowhere"}) == \
        "True|EnvoyPyextError: the call already ended"
    assert run(tester, **{"x-cluster": "nowhere", "x-mode": "headers"}) == \
        "True|ClusterNotFoundError: no cluster named 'nowhere' in Envoy"


def test_timeout_is_answered_504_by_envoys_router(tester):
    # The request never ends, so the fake upstream never answers: Envoy's router does, at the
    # call's timeout (not an exception, unlike http_call).
    assert run(tester, **{"x-mode": "headers", "x-timeout": "0.05"}) == \
        "True|504 -|upstream request timeout|[]"
    tester.callouts.add("slow", response=200, delay=30)
    assert run(tester, **{"x-cluster": "slow", "x-timeout": "0.05"}) == \
        "True|504 -|upstream request timeout|[]"


def test_rule_errors_and_unmatched_paths(tester):
    tester.callouts.add("down", error=CalloutResetError("reset", "connection_failure"))
    assert run(tester, **{"x-cluster": "down"}) == "True|CalloutResetError: reset"
    tester.callouts.add("other", "/elsewhere", response=200)
    assert run(tester, **{"x-cluster": "other"}) == "True|404 -|[]"


def test_checks_its_arguments_as_the_runtime():
    class Bad(Filter):
        def decode_headers(self, headers, end_stream):
            for args, kwargs in [(("svc",), {"timeout": 0}), (("svc", 1), {})]:
                try:
                    self.http_stream(*args, **kwargs)
                except (TypeError, ValueError) as e:
                    headers.add("x-error", type(e).__name__)
            return None

    r = FilterTester(Bad).request()
    assert r.upstream.headers.get_all("x-error") == ["ValueError", "TypeError"]
