"""`interpreter: per_worker` (docs/design.md "Interpreters"): each Envoy worker runs the filter
in its own sub-interpreter (CPython 3.12+), parse_config runs per interpreter, the default stays
the shared interpreter, envoy_pyext.shared is one store across them, and what cannot run per
worker is refused at load with a message naming it."""

import json
import sys

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess, bootstrap, filter_entry, listener
from .test_config import run_envoy

PER_WORKER = sys.version_info >= (3, 12)
needs_312 = pytest.mark.skipif(not PER_WORKER, reason="per_worker needs CPython 3.12+")


def spec(cls: str, config: str, interpreter: str | None = "per_worker", **extra) -> str:
    d = {"class": cls, "config": config, **extra}
    if interpreter is not None:
        d["interpreter"] = interpreter
    return json.dumps(d)


def refused(filter_name: str, filter_config: str) -> str:
    config = bootstrap([listener("l", [filter_entry(filter_name, filter_config)])], 9)
    result = run_envoy(config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Failed to create filter config" in output, output[-3000:]
    return output


def test_an_unknown_interpreter_value_is_refused():
    output = refused("who", spec("filters.interp:WhoAmI", "x", "threads"))
    assert "'interpreter' must be one of 'shared', 'per_worker' (got 'threads')" in output


def test_per_worker_with_reload_is_refused():
    output = refused("who", spec("filters.interp:WhoAmI", "x", reload=True))
    assert "'reload' is not available with interpreter 'per_worker'" in output


@pytest.mark.skipif(PER_WORKER, reason="the refusal is for CPython 3.11")
def test_per_worker_is_refused_on_python_311():
    output = refused("who", spec("filters.interp:WhoAmI", "x"))
    assert "interpreter 'per_worker' needs CPython 3.12 or later" in output
    assert "this Envoy runs Python 3.11" in output


@needs_312
def test_a_module_refusing_subinterpreters_is_named():
    output = refused("np", spec("filters.uses_numpy:UsesNumpy", "x"))
    assert "interpreter 'per_worker': the extension module 'numpy." in output, output[-3000:]
    assert "(package 'numpy') does not support sub-interpreters" in output


@needs_312
def test_metrics_are_refused_per_worker():
    output = refused("m", spec("filters.context_metrics:Observe", "x"))
    assert "are not available with interpreter 'per_worker' yet" in output, output[-3000:]


def balanced(config: dict) -> dict:
    # Each new connection goes to the worker with the fewest: two open connections are served
    # by the two workers (deterministic, without relying on the kernel's choice).
    for lst in config["static_resources"]["listeners"]:
        lst["connection_balance_config"] = {"exact_balance": {}}
    return config


def ask(conn, path="/"):
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, body
    return {k: v[0] for k, v in upstream_view(body)["h"].items() if k.startswith("x-")}


@needs_312
def test_each_worker_runs_its_own_interpreter(upstream):
    listeners = [listener("pw", [filter_entry("pw", spec("filters.interp:WhoAmI", "pw"))]),
                 listener("sh", [filter_entry("sh", spec("filters.interp:WhoAmI", "sh",
                                                          "shared"))])]
    config = balanced(bootstrap(listeners, upstream.port))
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        first, second = envoy.connect("pw"), envoy.connect("pw")
        try:
            seen = [ask(c) for c in (first, second, first, second, first, second)]
        finally:
            first.close()
            second.close()
        shared_one = envoy.connect("sh")
        try:
            main = [ask(shared_one) for _ in range(2)]
        finally:
            shared_one.close()
    # Two workers (threads), each with its own sub-interpreter.
    assert {h["x-thread"] for h in seen[:2]} == {h["x-thread"] for h in seen}
    assert len({h["x-thread"] for h in seen}) == 2
    assert all(h["x-interp-sub"] == "1" for h in seen)
    ids = {h["x-thread"]: h["x-interp-id"] for h in seen}
    assert len(set(ids.values())) == 2 and "0" not in ids.values()
    for h in seen:   # a thread always finds the same interpreter
        assert ids[h["x-thread"]] == h["x-interp-id"]
    # Module state is per interpreter: each counted its own three requests.
    for thread in ids:
        assert [h["x-interp-served"] for h in seen if h["x-thread"] == thread] == ["1", "2", "3"]
    # envoy_pyext.shared is one store: the six requests took six distinct counter values, and
    # parse_config ran once per interpreter (the load's check is the first worker's).
    assert sorted(int(h["x-shared-count"]) for h in seen) == [1, 2, 3, 4, 5, 6]
    assert seen[-1]["x-parse-count"] == "2"
    # The default: the main interpreter, one parse_config.
    assert [h["x-interp-sub"] for h in main] == ["0", "0"]
    assert {h["x-interp-id"] for h in main} == {"0"}
    assert main[-1]["x-parse-count"] == "1"
