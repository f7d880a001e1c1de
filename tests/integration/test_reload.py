"""Changing filter code in a running Envoy (same PID) through configuration updates: ECDS and LDS
from files that the test rewrites atomically (as a control plane would push them), inline source
and `package.module:Class` modules whose files change, under continuous traffic; broken code is
NACKed; 200 swaps keep memory bounded and free every old version; development reload."""

from __future__ import annotations

import http.client
import json
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from .harness import SO_PATH, EnvoyProcess, bootstrap, filter_entry, listener

DMF = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
STRUCT = "type.googleapis.com/google.protobuf.Struct"
STRING = "type.googleapis.com/google.protobuf.StringValue"
ECDS = "extension_config_discovery.http_filter.pyext."
LDS = "listener_manager.lds."

INLINE = '''
from envoy_pyext import Filter

class Versioned(Filter):
    @classmethod
    def parse_config(cls, raw):
        return raw

    def decode_headers(self, headers, end_stream):
        headers["x-version"] = "{v}"

    def encode_headers(self, headers, end_stream):
        headers["x-version"] = "{v}"
'''


# ---- configuration files, written as a control plane would push them ----------------------------

def put(path: Path, obj: dict) -> None:
    """Replaces a watched file atomically (write a temporary file, rename it over)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def module_config(so_path: Path = SO_PATH) -> dict:
    return {"module": {"local": {"filename": str(so_path)}}, "do_not_close": True}


def inline_filter(version: int, source: str | None = None) -> dict:
    return {"@type": DMF, "dynamic_module_config": module_config(), "filter_name": "versioned",
            "filter_config": {"@type": STRUCT, "value": {
                "source": INLINE.format(v=version) if source is None else source,
                "config": {"deployed": version}}}}


def module_filter(target: str, version: int) -> dict:
    return {"@type": DMF, "dynamic_module_config": module_config(), "filter_name": target,
            "filter_config": {"@type": STRING, "value": f"deploy-{version}"}}


def ecds_file(typed_config: dict, version: int) -> dict:
    return {"version_info": str(version), "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "pyext", "typed_config": typed_config}]}


def ecds_listener(path: Path) -> dict:
    return listener("app", [{"name": "pyext", "config_discovery": {
        "config_source": {"path_config_source": {"path": str(path)}, "resource_api_version": "V3"},
        "type_urls": [DMF]}}])


def with_node(cfg: dict) -> dict:
    cfg["node"] = {"id": "reload-test", "cluster": "reload-test"}  # ECDS and LDS want a node
    return cfg


def stats_listener() -> dict:
    return listener("stats", [filter_entry("filters.probe:Stats")])


def write_module(root: Path, package: str, version: int, broken: bool = False) -> None:
    """<root>/<package>/flt.py: a Versioned filter that says `version` (in place, as an editor
    saves: same size from version to version)."""
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text("")
    source = INLINE.format(v=version)
    if broken:
        source = source.replace("def decode_headers(self,", "def decode_headers(self,,")
    (root / package / "flt.py").write_text(source)


# ---- observing Envoy ----------------------------------------------------------------------------

def wait_counter(env: EnvoyProcess, name: str, at_least: int, timeout: float = 20) -> int:
    """Bounded poll of an admin counter until it reaches `at_least`."""
    deadline = time.monotonic() + timeout
    while True:
        value = env.stat(name) or 0
        if value >= at_least:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} = {value}, expected >= {at_least}\n{env.log()[-3000:]}")
        time.sleep(0.01)


def wait_until(predicate, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}")
        time.sleep(0.01)


def version_of(env: EnvoyProcess, conn: http.client.HTTPConnection | None = None) -> str | None:
    own = conn is None
    conn = conn or env.connect("app")
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        return resp.getheader("x-version")
    finally:
        if own:
            conn.close()


def runtime_stats(env: EnvoyProcess) -> dict:
    status, _, body = env.request("stats")
    assert status == 200
    return json.loads(body)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Load:
    """Clients sending requests back to back, each on its own keep-alive connection, recording
    (client, start, end, x-version) per response and every failure."""

    def __init__(self, env: EnvoyProcess, clients: int = 4):
        self.env = env
        self.stop = threading.Event()
        self.results: list[tuple[int, float, float, str | None]] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(clients)]

    def run(self, client: int) -> None:
        conn = self.env.connect("app", timeout=10)
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                conn.request("GET", f"/load/{client}")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.failures.append(f"client {client}: status {resp.status}")
                self.results.append((client, start, time.monotonic(),
                                     resp.getheader("x-version")))
            except Exception as e:  # noqa: BLE001  (any failure counts)
                self.failures.append(f"client {client}: {type(e).__name__}: {e}")
                conn.close()
                conn = self.env.connect("app", timeout=10)
        conn.close()

    def count(self) -> int:
        return len(self.results)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def wait_responses(self, n: int) -> None:
        target = self.count() + n
        wait_until(lambda: self.count() >= target or self.failures, f"{n} more responses")

    def check_swap(self, old: str, new: str) -> None:
        """Zero failures; every response says `old` or `new`; each client (a keep-alive
        connection, so one Envoy worker) switches once and never goes back (a stream runs on
        the code it started with, the next one on the current); once every client has
        switched, every request gets `new`."""
        assert not self.failures, self.failures[:5]
        versions = {v for _, _, _, v in self.results}
        assert versions <= {old, new}, versions
        assert {old, new} <= versions
        switched_at = 0.0
        for client in {c for c, _, _, _ in self.results}:
            mine = [(end, v) for c, _, end, v in self.results if c == client]
            seen = [v for _, v in mine]
            assert new in seen, (client, seen)
            first_new = seen.index(new)
            assert all(v == new for v in seen[first_new:]), (client, seen)
            switched_at = max(switched_at, mine[first_new][0])
        late = [v for _, start, _, v in self.results if start > switched_at]
        assert late and set(late) == {new}, set(late)


# ---- ECDS: inline source ------------------------------------------------------------------------

@pytest.fixture
def ecds_envoy(tmp_path, upstream):
    """Envoy whose `pyext` HTTP filter comes from an ECDS file (v1 of the inline filter)."""
    path = tmp_path / "ecds.json"
    put(path, ecds_file(inline_filter(1), 1))
    cfg = with_node(bootstrap([ecds_listener(path), stats_listener()], upstream.port))
    with EnvoyProcess(config=cfg, concurrency=2) as env:
        env.ecds_path = path
        yield env


def test_inline_code_swapped_under_traffic_then_broken_code_nacked(ecds_envoy):
    env = ecds_envoy
    pid = env.pid()
    assert version_of(env) == "1"
    # A stream in flight across the swap: its headers went in on v1, its body comes later.
    held = env.connect("app")
    held.putrequest("POST", "/held")
    held.putheader("content-length", "5")
    held.endheaders()
    wait_counter(env, "http.app.downstream_rq_active", 1)
    with Load(env) as load:
        load.wait_responses(200)
        put(env.ecds_path, ecds_file(inline_filter(2), 2))
        wait_counter(env, ECDS + "update_success", 2)
        # Envoy hands the new config to each worker after counting it: new connections show
        # when the workers have it.
        wait_until(lambda: all(version_of(env) == "2" for _ in range(8)), "v2 on the workers")
        load.wait_responses(400)
    load.check_swap("1", "2")
    held.send(b"12345")
    resp = held.getresponse()
    resp.read()
    held.close()
    assert resp.status == 200
    assert resp.getheader("x-version") == "1"      # it finished on the code it started with
    assert env.pid() == pid and env.alive()

    # v3 does not compile: Envoy refuses it (NACK), says why, and keeps serving v2.
    put(env.ecds_path, ecds_file(inline_filter(3, source=INLINE.format(v=3).replace(
        "def encode_headers(self,", "def encode_headers(self,,")), 3))
    wait_counter(env, ECDS + "update_rejected", 1)
    assert env.stat(ECDS + "config_fail") == 1
    log = env.log()
    assert "cannot load filter 'inline:versioned': syntax error in <inline:versioned@" in log
    assert ">:12:" in log and "def encode_headers(self,, headers, end_stream):" in log
    assert version_of(env) == "2"
    assert env.stat(ECDS + "update_success") == 2
    assert env.pid() == pid


def test_inline_source_with_a_pinned_sha256(ecds_envoy):
    import hashlib
    env = ecds_envoy
    source = INLINE.format(v=7)
    good = inline_filter(7, source)
    good["filter_config"]["value"]["sha256"] = hashlib.sha256(source.encode()).hexdigest()
    put(env.ecds_path, ecds_file(good, 2))
    wait_counter(env, ECDS + "update_success", 2)
    wait_until(lambda: version_of(env) == "7", "v7")
    tampered = inline_filter(8, INLINE.format(v=8))
    tampered["filter_config"]["value"]["sha256"] = good["filter_config"]["value"]["sha256"]
    put(env.ecds_path, ecds_file(tampered, 3))
    wait_counter(env, ECDS + "update_rejected", 1)
    assert "versioned: the inline source does not match its pinned sha256" in env.log()
    assert version_of(env) == "7"


# ---- 200 swaps: memory stays bounded, every old version is freed --------------------------------

def swap_many(env: EnvoyProcess, make, first: int, count: int) -> None:
    """`count` ECDS updates, versions first..first+count-1; after each, one request (on a kept
    connection) checks the new code runs."""
    conn = env.connect("app")
    try:
        base = env.stat(ECDS + "update_success") or 0
        for i in range(count):
            version = first + i
            make(version)
            wait_counter(env, ECDS + "update_success", base + i + 1)
            wait_until(lambda v=str(version): version_of(env, conn) == v, f"v{version}")
    finally:
        conn.close()


def settled(env: EnvoyProcess, baseline: dict) -> dict | None:
    """The runtime's counters once they are back to `baseline` (live configurations, code
    versions, filters, streams), else None."""
    now = runtime_stats(env)
    keys = ("live_configs", "code_versions", "live_filters", "live_streams")
    if all(now[k] == baseline[k] for k in keys) and now["unreleased_modules"] == 0:
        return now
    return None


@pytest.mark.parametrize("kind", ["inline", "module"])
def test_200_swaps_keep_memory_bounded_and_free_old_versions(kind, tmp_path, upstream):
    path = tmp_path / "ecds.json"
    package = f"swapmod_{os.getpid()}"

    def make(version: int) -> None:
        if kind == "inline":
            put(path, ecds_file(inline_filter(version), version))
        else:
            write_module(tmp_path, package, version)
            put(path, ecds_file(module_filter(f"{package}.flt:Versioned", version), version))

    make(1)
    cfg = with_node(bootstrap([ecds_listener(path), stats_listener()], upstream.port))
    with EnvoyProcess(config=cfg, extra_pythonpath=[str(tmp_path)]) as env:
        pid = env.pid()
        swap_many(env, make, 2, 20)                       # warm up
        baseline = runtime_stats(env)
        before = rss_kib(pid)
        swap_many(env, make, 22, 200)
        after_stats = wait_until(lambda: settled(env, baseline), "old versions freed")
        after = rss_kib(pid)
        assert env.pid() == pid
    assert after_stats["code_loads"] == baseline["code_loads"] + 200
    growth = (after - before) / 1024
    print(f"{kind}: RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB over 200 swaps "
          f"({growth:+.1f} MiB)")
    assert growth < 30, f"RSS grew {growth:.1f} MiB over 200 swaps"


# ---- LDS: a package.module:Class whose file changes between updates -----------------------------

def lds_file(package: str, version: int) -> dict:
    lst = listener("app", [{"name": "pyext", "typed_config": module_filter(
        f"{package}.flt:Versioned", version)}])
    lst["@type"] = "type.googleapis.com/envoy.config.listener.v3.Listener"
    return {"version_info": str(version), "resources": [lst]}


def test_module_file_changed_and_listener_updated_under_traffic(tmp_path, upstream):
    package = f"ldsmod_{os.getpid()}"
    path = tmp_path / "lds.json"
    write_module(tmp_path, package, 1)
    put(path, lds_file(package, 1))
    cfg = with_node(bootstrap([stats_listener()], upstream.port))
    cfg["dynamic_resources"] = {"lds_config": {"path_config_source": {"path": str(path)},
                                               "resource_api_version": "V3"}}
    # The old filter chain drains at once: its keep-alive connections are asked to close
    # (Connection: close) on their next response and the clients reconnect to the new chain.
    with EnvoyProcess(config=cfg, concurrency=2, extra_pythonpath=[str(tmp_path)],
                      extra_args=["--drain-time-s", "1", "--drain-strategy", "immediate"]) as env:
        pid = env.pid()
        assert version_of(env) == "1"
        with Load(env) as load:
            load.wait_responses(200)
            write_module(tmp_path, package, 2)          # the new code...
            put(path, lds_file(package, 2))             # ...and the update that deploys it
            wait_counter(env, LDS + "update_success", 2)
            wait_until(lambda: env.stat("listener_manager.total_filter_chains_draining") == 0,
                       "the old filter chain drained")
            load.wait_responses(400)
        load.check_swap("1", "2")
        assert env.pid() == pid

        # A broken file: the update is NACKed, v2 keeps serving.
        write_module(tmp_path, package, 3, broken=True)
        put(path, lds_file(package, 3))
        wait_counter(env, LDS + "update_rejected", 1)
        log = env.log()
        assert f"cannot load filter '{package}.flt:Versioned': syntax error in " \
               f"{tmp_path / package / 'flt.py'}:9:" in log
        assert version_of(env) == "2"
        # Fixed: the next update deploys it.
        write_module(tmp_path, package, 4)
        put(path, lds_file(package, 4))
        wait_counter(env, LDS + "update_success", 3)
        wait_until(lambda: version_of(env) == "4", "v4")
        assert env.pid() == pid


# ---- development reload -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["env", "envelope"])
def test_development_reload_uses_saved_code_without_restart(how, tmp_path, upstream):
    from envoy_pyext import launcher
    package = f"devmod_{how}_{os.getpid()}"
    write_module(tmp_path, package, 1)
    target = f"{package}.flt:Versioned"
    if how == "env":
        entry = filter_entry(target, "dev")
    else:
        entry = filter_entry("dev", "")
        entry["typed_config"]["filter_config"] = {
            "@type": STRUCT, "value": {"class": target, "config": "dev", "reload": True}}
    cfg = bootstrap([listener("app", [entry]), stats_listener()], upstream.port)
    env = EnvoyProcess(config=cfg, extra_pythonpath=[str(tmp_path)])
    if how == "env":
        env.env = launcher.reload_env(env.env, interval=0.1)
    with env:
        pid = env.pid()
        conn = env.connect("app")
        assert version_of(env, conn) == "1"
        write_module(tmp_path, package, 2)                                  # save
        wait_until(lambda: version_of(env, conn) == "2", "the saved code runs", timeout=10)
        write_module(tmp_path, package, 3, broken=True)                     # a broken save
        wait_until(lambda: "reload failed; the previous code keeps serving" in env.log(),
                   "the broken save is reported", timeout=10)
        assert f"{tmp_path / package / 'flt.py'}:9:" in env.log()
        assert version_of(env, conn) == "2"
        write_module(tmp_path, package, 4)                                  # fixed
        wait_until(lambda: version_of(env, conn) == "4", "the fixed code runs", timeout=10)
        conn.close()
        assert env.pid() == pid
        assert runtime_stats(env)["unreleased_modules"] == 0


def test_inline_code_in_a_static_configuration(upstream):
    source = textwrap.dedent('''
        from envoy_pyext import Filter

        class Greeter(Filter):
            def decode_headers(self, headers, end_stream):
                headers["x-greeting"] = self.config
    ''')
    entry = filter_entry("greeter", "")
    entry["typed_config"]["filter_config"] = {"@type": STRUCT, "value": {
        "source": source, "config": "hello"}}
    with EnvoyProcess(config=bootstrap([listener("app", [entry])], upstream.port)) as env:
        status, _, body = env.request("app")
        assert status == 200
        assert ["x-greeting", "hello"] in json.loads(body)["headers"]
