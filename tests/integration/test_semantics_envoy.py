"""The semantics table (tests/semantics/scenarios.py) through the real Envoy: one listener per
scenario, each with its filter. tests/unit/test_semantics_tester.py runs the same table through
FilterTester; both must give the table's outcomes."""

from __future__ import annotations

import http.client
import itertools

import pytest

from tests.semantics.scenarios import SCENARIOS, Scenario, outcome

from .harness import EnvoyProcess, Upstream


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def envoy(upstream):
    filters = {s.name: (s.filter_name, s.config) for s in SCENARIOS}
    with EnvoyProcess(filters, upstream.port) as env:
        yield env


_RUN_IDS = itertools.count(1)


def run_in_envoy(env: EnvoyProcess, up: Upstream, s: Scenario) -> dict:
    # The upstream request is picked by a run id: a request an earlier scenario's reset cut
    # short can still be recorded by the upstream while this one runs.
    run_id = f"{s.name}-{next(_RUN_IDS)}"
    headers = {"x-upstream-mode": "echo", "x-run-id": run_id, **s.headers}
    if s.chunks is not None or s.trailers is not None:
        body = s.chunks if s.chunks is not None else [s.body or b""]
        args = dict(body=body, encode_chunked=True, trailers=s.trailers)
    else:
        args = dict(body=s.body)
    try:
        status, resp_headers, body = env.request(s.name, s.method, s.path, headers=headers, **args)
    except (http.client.HTTPException, ConnectionError):
        status, resp_headers, body = "reset", [], b""
    up_view = None
    mine = [r for r in list(up.received) if dict(r["headers"]).get("x-run-id") == run_id]
    if mine:
        got = mine[-1]
        up_view = {"body": got["body"], "headers": [tuple(h) for h in got["headers"]],
                   "trailers": [tuple(t) for t in got["trailers"]]}
    return outcome(s, status, [(k.lower(), v) for k, v in resp_headers], body, up_view)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(envoy, upstream, scenario: Scenario) -> None:
    assert run_in_envoy(envoy, upstream, scenario) == scenario.expect
    assert envoy.alive()
