"""Per-route configs and runtime values under `interpreter: per_worker` (docs/api.md
"Interpreters"): each worker's interpreter parses a route's per-route config itself at its first
use there and keeps it by the config's serial (dropping the ones Envoy destroyed), a config
that does not parse there fails the hook closed, and runtime values read on Envoy's main thread
reach every interpreter (an admin change too)."""

import json

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener, wait_for
from .test_context_route import per_route
from .test_context_runtime import runtime_modify
from .test_interpreters import balanced, needs_312, spec
from .test_reload import put

ROUTE = "filters.interp_route:RoutePerWorker"


def route_table(a: str, b: str, name: str = "local") -> dict:
    """/a and /b carry per-route configs `a` and `b`; /none carries none."""
    def route(prefix, value=None):
        r = {"match": {"prefix": prefix}, "route": {"cluster": "upstream", "timeout": "30s"}}
        if value is not None:
            r["typed_per_filter_config"] = per_route(ROUTE, value)
        return r
    return {"name": name, "virtual_hosts": [{
        "name": "all", "domains": ["*"],
        "routes": [route("/a", a), route("/b", b), route("/none")]}]}


def per_worker_route_listener(route_config: dict | None = None, **hcm) -> dict:
    entry = filter_entry("rpw", spec(ROUTE, '{"base": 1, "level": 0}'))
    if route_config is not None:
        hcm["route_config"] = route_config
    lst = listener("rpw", [entry], hcm_extra=hcm)
    if route_config is None:     # rds instead
        del lst["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    return lst


def report(conn, path: str, status: int = 200) -> dict | None:
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == status, body
    got = resp.getheader("x-report")
    return json.loads(got) if got is not None else None


def two_workers(envoy, name: str):
    """Two connections, served by the two workers (exact balance)."""
    return [envoy.connect(name), envoy.connect(name)]


@needs_312
def test_each_worker_parses_the_per_route_configs_itself(upstream):
    a, b = '{"level": 5}', '{"level": 7, "extra": "b"}'
    config = balanced(bootstrap([per_worker_route_listener(route_table(a, b))], upstream.port))
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        conns = two_workers(envoy, "rpw")
        try:
            seen = [(path, report(conn, path)) for _ in range(2) for conn in conns
                    for path in ("/a", "/b", "/none")]
        finally:
            for conn in conns:
                conn.close()
    threads = {r["thread"] for _, r in seen}
    assert len(threads) == 2                        # both workers answered
    assert {r["where"] for _, r in seen} == {"sub"}
    for path, r in seen:
        expected = {"/a": {"base": 1, "level": 5}, "/b": {"base": 1, "level": 7, "extra": "b"},
                    "/none": None}[path]
        assert r["sync"] == expected and r["pending"] == expected, (path, r)
    for thread in threads:
        last = [r for _, r in seen if r["thread"] == thread][-1]
        # This worker's interpreter parsed each per-route config once (then its cache).
        assert last["parsed"] == {a: 1, b: 1}
        assert last["cached"] == 2
    # The main interpreter parsed each once too, when the route configuration loaded (a bad
    # one is refused there, as in the shared interpreter); counted in envoy_pyext.shared.
    assert seen[-1][1]["all_parsed"] == {f"main:{a}": 1, f"main:{b}": 1, f"sub:{a}": 2,
                                         f"sub:{b}": 2}


def rds_file(version: int) -> dict:
    rc = route_table(f'{{"level": {version}, "side": "a"}}',
                     f'{{"level": {version}, "side": "b"}}', name="dyn")
    return {"version_info": str(version), "resources": [
        {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", **rc}]}


@needs_312
def test_an_rds_update_is_parsed_again_and_the_old_configs_are_dropped(tmp_path, upstream):
    path = tmp_path / "rds.json"
    put(path, rds_file(1))
    rds = {"rds": {"route_config_name": "dyn", "config_source": {
        "path_config_source": {"path": str(path)}, "resource_api_version": "V3"}}}
    config = balanced(bootstrap([per_worker_route_listener(**rds)], upstream.port))
    config["node"] = {"id": "interp-route-test", "cluster": "interp-route-test"}

    def both(version: int) -> bool:
        conns = two_workers(envoy, "rpw")
        try:
            got = [(report(c, "/a"), report(c, "/b")) for c in conns]
        finally:
            for c in conns:
                c.close()
        seen.extend(r for pair in got for r in pair)
        return len({ra["thread"] for ra, _ in got}) == 2 and all(
            ra["sync"] == {"base": 1, "level": version, "side": "a"}
            and rb["sync"] == {"base": 1, "level": version, "side": "b"}
            and rb["pending"] == rb["sync"] for ra, rb in got)

    versions = 6
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        seen: list[dict] = []
        for version in range(1, versions + 1):
            if version > 1:
                put(path, rds_file(version))
            wait_for(lambda: both(version), f"route configuration {version} on both workers")
        final = seen[-4:]
        assert envoy.alive()
    assert {r["where"] for r in seen} == {"sub"}
    for r in final:
        # Each worker parsed every version it served (two configs each) ...
        for version in range(1, versions + 1):
            for side in "ab":
                raw = f'{{"level": {version}, "side": "{side}"}}'
                assert r["parsed"].get(raw, 0) <= 1
        assert r["parsed"][f'{{"level": {versions}, "side": "a"}}'] == 1
        # ... and keeps only the live ones: the current two (one when this was the first of
        # them), and at most the two the update replaced (destroyed by Envoy after this
        # worker's last new one), never all twelve.
        assert 1 <= r["cached"] <= 4, r
    assert all(2 <= r["cached"] <= 4 for r in final[1::2]), final   # after /b


@needs_312
def test_a_per_route_config_that_does_not_parse_in_a_worker_fails_its_hooks_closed(upstream):
    bad, good = '{"bad": "in-worker"}', '{"level": 3}'
    config = balanced(bootstrap([per_worker_route_listener(route_table(bad, good))],
                                upstream.port))
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        conns = two_workers(envoy, "rpw")
        try:
            for conn in conns:
                for _ in range(2):
                    assert report(conn, "/a", status=500) is None
                    last = report(conn, "/b")
                    assert last["sync"] == {"base": 1, "level": 3}
                    assert report(conn, "/none")["sync"] is None
        finally:
            for conn in conns:
                conn.close()
        assert envoy.alive()
        log = envoy.log()
    assert ("parse_route_config rejected the per-route filter_config in this worker's "
            "interpreter (interpreter 'per_worker'): ValueError: bad per-route config in sub"
            ) in log, log[-3000:]
    # Each request to /a failed; each worker's interpreter parsed it once (the failure is
    # kept, as a success would be), the main interpreter once (it accepted it).
    assert log.count("ValueError: bad per-route config in sub\n") >= 4
    assert last["all_parsed"][f"sub:{bad}"] == 2 and last["all_parsed"][f"main:{bad}"] == 1


@needs_312
def test_a_per_route_config_bad_everywhere_is_refused_at_load():
    from .test_config import run_envoy
    config = bootstrap([per_worker_route_listener(route_table('{"bad": "everywhere"}', "{}"))],
                       9)
    result = run_envoy(config)
    output = result.stdout + result.stderr
    assert "parse_route_config rejected the per-route filter_config: ValueError: bad per-route " \
           "config in main" in output, output[-3000:]
    assert result.returncode != 0


STATIC = {"pyext.pw.limit": 42, "pyext.pw.flag": True, "pyext.pw.ratio": 0.25}


@pytest.fixture(scope="module")
def runtime_envoy(upstream):
    entry = filter_entry("rt", spec("filters.interp_route:RuntimePerWorker", ""))
    config = balanced(bootstrap([listener("rt", [entry])], upstream.port))
    config["layered_runtime"] = {"layers": [
        {"name": "static", "static_layer": STATIC},
        {"name": "admin", "admin_layer": {}}]}
    with EnvoyProcess(config=config, concurrency=2) as envoy:
        yield envoy


def runtime_reports(envoy) -> list[dict]:
    conns = two_workers(envoy, "rt")
    try:
        return [report(c, "/") for c in conns]
    finally:
        for c in conns:
            c.close()


@needs_312
def test_runtime_values_reach_every_worker_interpreter(runtime_envoy):
    got = wait_for(lambda: (r := runtime_reports(runtime_envoy)) and all(
        x["flag"] is True and x["ratio"] == 0.25 for x in r) and r,
        "keys first read in the workers' interpreters, read on the main thread")
    assert len({x["thread"] for x in got}) == 2
    assert {x["where"] for x in got} == {"sub"}
    for x in got:
        assert x["sync"] == x["pending"] == 42
        # parse_config in each worker's interpreter: the value read on the main thread
        # (the check load ran there and read it directly).
        assert x["at_load"]["limit"] == 42 and x["at_load"]["where"] == "sub"


@needs_312
def test_an_admin_runtime_change_reaches_every_worker_interpreter(runtime_envoy):
    runtime_modify(runtime_envoy, **{"pyext.pw.limit": 77, "pyext.pw.flag": "false"})
    try:
        got = wait_for(lambda: (r := runtime_reports(runtime_envoy)) and all(
            x["sync"] == 77 and x["flag"] is False for x in r) and r,
            "the admin-layer value in both workers' interpreters")
        assert len({x["thread"] for x in got}) == 2
    finally:
        runtime_modify(runtime_envoy, **{"pyext.pw.limit": "", "pyext.pw.flag": ""})
    wait_for(lambda: all(x["sync"] == 42 and x["flag"] is True
                         for x in runtime_reports(runtime_envoy)), "the static values again")
