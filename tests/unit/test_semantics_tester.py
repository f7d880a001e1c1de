"""The semantics table (tests/semantics/scenarios.py) through envoy_pyext.testing.FilterTester.
tests/integration/test_semantics_envoy.py runs the same table through the real Envoy."""

from __future__ import annotations

import pytest

from envoy_pyext.testing import FilterTester
from tests.semantics.scenarios import SCENARIOS, Scenario, harness_upstream, outcome


def run_in_tester(s: Scenario) -> dict:
    t = FilterTester(s.filter_name, s.config, upstream=harness_upstream)
    r = t.request(s.method, s.path, headers=s.headers, body=s.body, chunks=s.chunks,
                  trailers=s.trailers)
    up = None
    if r.upstream is not None:
        up = {"body": r.upstream.body, "headers": r.upstream.headers.items(),
              "trailers": r.upstream.trailers.items() if r.upstream.trailers else []}
    status = "reset" if r.client.reset else r.client.status
    return outcome(s, status, r.client.headers.items(), r.client.body, up)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    assert run_in_tester(scenario) == scenario.expect


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_without_empty_end_chunk(scenario: Scenario) -> None:
    """HTTP/2-style delivery (end_stream on the last data chunk) gives the same outcomes."""
    t = FilterTester(scenario.filter_name, scenario.config, upstream=harness_upstream,
                     empty_end_chunk=False)
    r = t.request(scenario.method, scenario.path, headers=scenario.headers, body=scenario.body,
                  chunks=scenario.chunks, trailers=scenario.trailers)
    up = None
    if r.upstream is not None:
        up = {"body": r.upstream.body, "headers": r.upstream.headers.items(),
              "trailers": r.upstream.trailers.items() if r.upstream.trailers else []}
    status = "reset" if r.client.reset else r.client.status
    assert outcome(scenario, status, r.client.headers.items(), r.client.body, up) \
        == scenario.expect
