"""`interpreter: per_worker` (docs/design.md "Interpreters"): each Envoy worker runs the filter
in its own sub-interpreter (CPython 3.12+), parse_config runs per interpreter, the default stays
the shared interpreter, envoy_pyext.shared is one store across them, and what cannot run per
worker is refused at load with a message naming it."""

import json
import sys

import pytest

from .conftest import upstream_view
from .harness import (SO_PATH, EnvoyProcess, add_cluster, bootstrap, filter_entry, listener,
                      wait_for)
from .test_config import run_envoy
from .test_reload import DMF, put

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
def test_metrics_and_the_error_counter_work_per_worker(upstream):
    """Envoy defines metrics once, on its main thread, for the configuration: every worker's
    interpreter updates the same ones (by the ids the load defined), and the runtime's error
    counter counts errors raised in any of them."""
    listeners = [listener("m", [filter_entry("m", spec("filters.interp:Metered", "m"))]),
                 listener("o", [filter_entry("o", spec("filters.interp:MeteredOther", "o"))])]
    config = balanced(bootstrap(listeners, upstream.port))
    config["stats_flush_interval"] = "0.05s"     # histograms reach the admin API at each flush
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        first, second = envoy.connect("m"), envoy.connect("m")
        try:
            seen = [ask(c) for c in (first, second, first, second, first, second)]
            for conn in (first, second):
                conn.request("GET", "/", headers={"x-raise": "1"})
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 500
        finally:
            first.close()
            second.close()
        assert len({h["x-interp-id"] for h in seen}) == 2       # both interpreters counted
        assert len({h["x-thread"] for h in seen}) == 2
        assert envoy.stat("dynamicmodulescustom.interp_requests_total.sub.1") == 6
        assert envoy.stat("dynamicmodulescustom.interp_level") == 5
        assert envoy.stat("dynamicmodulescustom.envoy_pyext_errors.m") == 2
        wait_for(lambda: "envoy_dynamicmodulescustom_interp_header_count_count{} 6"
                 in envoy.admin("/stats/prometheus"), "the histogram's six values")
        status, headers, _ = envoy.request("o")
        assert status == 200
        assert envoy.stat("dynamicmodulescustom.interp_extra_total") == 1
        assert envoy.stat("dynamicmodulescustom.interp_requests_total.sub.1") == 7


@needs_312
def test_a_metric_the_load_did_not_define_fails_that_interpreter_only(upstream):
    config = balanced(bootstrap([listener("d", [filter_entry("d", spec(
        "filters.interp:Drifting", "d"))])], upstream.port))
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        conns = [envoy.connect("d"), envoy.connect("d")]
        try:
            statuses = []
            for conn in conns:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
        finally:
            for conn in conns:
                conn.close()
        assert sorted(statuses) == [200, 500]     # the check load's interpreter serves one
        assert envoy.stat("dynamicmodulescustom.drift_requests_total") == 1
        log = envoy.log()
        assert "<Counter 'drift_late_total'" in log or "drift_late_total" in log, log[-3000:]
        assert "was not defined when the configuration loaded" in log, log[-3000:]


@needs_312
@pytest.mark.parametrize("cls, what", [("WantsSecret", "ConfigContext.secret")])
def test_main_thread_config_features_are_refused_per_worker(cls, what):
    output = refused("f", spec(f"filters.interp:{cls}", "x"))
    assert f"{what} is not available with interpreter 'per_worker'" in output, output[-3000:]


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
        log = envoy.log()
    # Main-thread-only callbacks are not called from a worker's interpreter (Envoy logs a bug).
    assert "must be called on the main thread" not in log
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


@needs_312
def test_async_threads_and_callouts_run_per_worker(upstream):
    """Each interpreter has its own event-loop thread; a pending hook comes back to its worker's
    interpreter through Envoy's scheduler; calls go through Envoy's clusters."""
    listeners = [listener("a", [filter_entry("a", spec("filters.asyncf:AsyncSleep", "0.001"))]),
                 listener("t", [filter_entry("t", spec("filters.asyncf:ThreadWork", ""))]),
                 listener("c", [filter_entry("c", spec("filters.callouts:Caller", ""))])]
    config = add_cluster(balanced(bootstrap(listeners, upstream.port)), "side", upstream.port)
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        for name in ("a", "t", "c"):
            conns = [envoy.connect(name), envoy.connect(name)]   # one per worker
            try:
                for conn in conns * 2:
                    for call in ("ok", "from-loop"):
                        conn.request("GET", "/", headers={"x-user": "u", "x-call": call})
                        resp = conn.getresponse()
                        body = resp.read()
                        assert resp.status == 200, (name, body, envoy.log()[-3000:])
                        h = upstream_view(body)["h"]
                        if name == "a":
                            assert resp.getheader("x-async") == "response:u"
                            assert h["x-async"] == ["request"]
                        elif name == "t":
                            assert h["x-thread"] == ["u"]
                        elif call == "ok":
                            assert h["x-callout"] == ["200 /ok?q=1 ping None"]
                        else:
                            assert h["x-callout"] == ["200 /ok?from=loop"]
            finally:
                for conn in conns:
                    conn.close()
        assert "raised" not in envoy.log()


INLINE = '''
import asyncio
import threading
import envoy_pyext
from envoy_pyext import Filter, shared

async def alive(version):
    # spawned by parse_config in each interpreter; cancelled when its config is destroyed
    shared.incr("interp_test.ecds." + version + ".started")
    shared.incr("interp_test.ecds." + version + ".running")
    try:
        await asyncio.Event().wait()
    finally:
        shared.incr("interp_test.ecds." + version + ".running", -1)

class Versioned(Filter):
    @classmethod
    def parse_config(cls, raw, context):
        context.spawn(alive("{v}"))
        return raw

    def encode_headers(self, headers, end_stream):
        headers["x-version"] = "{v}"
        headers["x-v1-spawned"] = "%d/%d" % (shared.counter("interp_test.ecds.1.started"),
                                             shared.counter("interp_test.ecds.1.running"))
        headers["x-live-configs"] = str(envoy_pyext.stats()["live_configs"])
        headers["x-sub"] = str(envoy_pyext.in_subinterpreter())
        headers["x-thread"] = str(threading.get_native_id())
'''


def ecds_file(version: int) -> dict:
    return {"version_info": str(version), "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "pyext", "typed_config": {
            "@type": DMF, "filter_name": "versioned",
            "dynamic_module_config": {"module": {"local": {"filename": str(SO_PATH)}},
                                      "do_not_close": True},
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {
                "source": INLINE.format(v=version), "interpreter": "per_worker"}}}}]}


@needs_312
def test_an_ecds_update_loads_per_interpreter_and_frees_the_old_config_in_each(tmp_path,
                                                                                 upstream):
    path = tmp_path / "ecds.json"
    put(path, ecds_file(1))
    app = listener("app", [{"name": "pyext", "config_discovery": {
        "config_source": {"path_config_source": {"path": str(path)},
                          "resource_api_version": "V3"},
        "type_urls": [DMF]}}])
    config = balanced(bootstrap([app], upstream.port))
    config["node"] = {"id": "interp-test", "cluster": "interp-test"}

    def both_workers(version: str):
        """(thread -> response headers) of one request per worker, on fresh connections."""
        conns = [envoy.connect("app"), envoy.connect("app")]
        try:
            seen = {}
            for conn in conns:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
                seen[resp.getheader("x-thread")] = dict(resp.getheaders())
            return seen
        finally:
            for conn in conns:
                conn.close()

    with EnvoyProcess(config=config, concurrency=2) as envoy:
        first = both_workers("1")
        assert len(first) == 2
        assert {h["x-version"] for h in first.values()} == {"1"}
        assert {h["x-sub"] for h in first.values()} == {"True"}
        wait_for(lambda: all(h["x-v1-spawned"] == "2/2" for h in both_workers("1").values()),
                 "v1's parse_config spawned a coroutine in both interpreters")
        put(path, ecds_file(2))
        # Each worker's interpreter loads v2 at its first stream; v1's config is then freed in
        # each interpreter (live_configs back to 1 there), by Envoy's main thread, and the
        # coroutine v1's parse_config spawned in each of the two is cancelled.
        wait_for(lambda: all(h["x-version"] == "2" and h["x-live-configs"] == "1"
                             and h["x-v1-spawned"] == "2/0"
                             for h in both_workers("2").values()),
                 "v2 on both workers with v1 freed in both interpreters")
        assert envoy.alive()
        assert "raised" not in envoy.log()


@needs_312
@pytest.mark.parametrize("answering", ["pw", "sh"])
def test_a_hook_of_one_interpreter_runs_inside_a_call_of_the_other(answering, upstream):
    """A filter's send_local_reply makes Envoy call every filter's on_local_reply right away:
    from inside the per-worker interpreter's Python into the shared one's, and back."""
    chain = [filter_entry("pw", spec("filters.interp:Answer", "pw")),
             filter_entry("sh", spec("filters.interp:Answer", "sh", "shared"))]
    config = bootstrap([listener("l", chain)], upstream.port)
    with EnvoyProcess(config=config) as envoy:
        for _ in range(3):
            status, _, body = envoy.request("l", headers={"x-answer-by": answering})
            assert (status, body) == (403, b"no\n")
        status, _, _ = envoy.request("l")
        assert status == 200
        log = envoy.log()
    assert log.count(f"local reply 403 by_{answering} seen by pw in sub") == 3, log[-3000:]
    assert log.count(f"local reply 403 by_{answering} seen by sh in main") == 3
    assert "raised" not in log
