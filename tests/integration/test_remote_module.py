"""libpyfilter.so itself from the network (`dynamic_module_config.module.remote {http_uri,
sha256}`), with the filter's code inline in the same configuration: an Envoy gets the runtime
and the filter from configuration alone. And the fail-open hazard of Envoy 1.40's remote
modules, measured, with the configurations that fail closed instead (docs/deploying.md)."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from envoy_pyext.launcher import EnvoyError

from .harness import SO_PATH, EnvoyProcess, bootstrap, listener
from .test_reload import (DMF, ECDS, STRUCT, ecds_file, ecds_listener, put, wait_counter,
                          wait_until, with_node)

SOURCE = textwrap.dedent('''
    from envoy_pyext import Filter

    class Gate(Filter):
        """Stands for an auth filter: it marks the requests it let through."""
        def decode_headers(self, headers, end_stream):
            headers["x-gate"] = self.config
''')
BROKEN = "from envoy_pyext import Filter\n\nclass Gate(Filter:\n    pass\n"
SHA = hashlib.sha256(SO_PATH.read_bytes()).hexdigest() if SO_PATH.exists() else ""


class ModuleServer:
    """Serves libpyfilter.so over HTTP (what an artifact store would), counting the GETs."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(SO_PATH, root / "libpyfilter.so")
        self.gets: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.gets.append(self.path)
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                         partial(Handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def cluster(self) -> dict:
        return {"name": "modules", "connect_timeout": "2s", "type": "STATIC",
                "load_assignment": {"cluster_name": "modules", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address": {
                        "address": "127.0.0.1", "port_value": self.port}}}}]}]}}


@pytest.fixture
def modules(tmp_path):
    srv = ModuleServer(tmp_path / "artifacts")
    yield srv
    srv.close()


def remote_filter(srv: ModuleServer, source: str, *, nack: bool = False, path: str =
                  "/libpyfilter.so", sha256: str = SHA, attempt: int = 0) -> dict:
    module = {"module": {"remote": {
        "http_uri": {"uri": f"http://127.0.0.1:{srv.port}{path}", "cluster": "modules",
                     "timeout": "10s"},
        "sha256": sha256}}, "do_not_close": True}
    if nack:
        module["nack_on_cache_miss"] = True
    return {"@type": DMF, "dynamic_module_config": module, "filter_name": "gate",
            "filter_config": {"@type": STRUCT, "value": {
                "source": source, "config": "passed" if not attempt else f"passed-{attempt}"}}}


def envoy_with(srv: ModuleServer, listeners: list[dict], upstream_port: int, cache: Path,
               node: bool = False) -> EnvoyProcess:
    cfg = bootstrap(listeners, upstream_port)
    cfg["static_resources"]["clusters"].append(srv.cluster())
    if node:
        with_node(cfg)
    env = EnvoyProcess(config=cfg)
    # Envoy caches remote modules as $TMPDIR/envoy_dynamic_module_<sha256>.so: a directory of
    # this test's own, so that no run sees another's cache.
    cache.mkdir(parents=True, exist_ok=True)
    env.env["TMPDIR"] = str(cache)
    return env


def gate_of(env: EnvoyProcess) -> tuple[int, str | None]:
    """(status, the x-gate header the upstream received or None)."""
    status, _, body = env.request("app")
    if status != 200:
        return status, None
    return status, dict((k, v) for k, v in json.loads(body)["headers"]).get("x-gate")


def cached(cache: Path) -> Path:
    return cache / f"envoy_dynamic_module_{SHA}.so"


def static_gate(srv, upstream, tmp_path, **kw):
    entry = {"name": "gate", "typed_config": remote_filter(srv, kw.pop("source", SOURCE), **kw)}
    return envoy_with(srv, [listener("app", [entry])], upstream.port, tmp_path / "cache")


def test_runtime_and_inline_filter_from_configuration_alone(modules, upstream, tmp_path):
    with static_gate(modules, upstream, tmp_path) as env:
        assert gate_of(env) == (200, "passed")
        assert modules.gets == ["/libpyfilter.so"]
        assert cached(tmp_path / "cache").exists()      # verified against sha256 and kept


# ---- the hazard: Envoy 1.40 skips the filter when a remote module's config fails -----------------

@pytest.mark.parametrize("failure", ["filter code fails", "module fetch fails"])
def test_hazard_remote_module_failure_fails_open(failure, modules, upstream, tmp_path):
    """Measured on Envoy 1.40: with a remote module not yet cached, the module is fetched
    after the configuration was accepted; if the fetch or then the filter configuration fails,
    Envoy logs it and serves the listener WITHOUT the filter (an auth filter is bypassed)."""
    kw = {"source": BROKEN} if failure == "filter code fails" else {"path": "/missing.so"}
    with static_gate(modules, upstream, tmp_path, **kw) as env:
        assert gate_of(env) == (200, None)              # served, the filter silently skipped
        log = env.log()
        if failure == "filter code fails":
            assert "cannot load filter 'inline:gate': syntax error in <inline:gate@" in log
            assert "Failed to create filter config from remote module" in log
        else:
            assert "Remote dynamic module fetch returned empty data" in log


# ---- what fails closed ---------------------------------------------------------------------------

def test_static_nack_on_cache_miss_refuses_to_start_without_the_module(modules, upstream,
                                                                       tmp_path):
    env = static_gate(modules, upstream, tmp_path, nack=True)
    with pytest.raises(EnvoyError, match="Remote module not cached; background fetch"):
        env.start(timeout=30)
    env.stop()


@pytest.mark.parametrize("code", ["good", "broken"])
def test_static_nack_on_cache_miss_with_a_seeded_cache(code, modules, upstream, tmp_path):
    """A static bootstrap that fails closed: the module is put in Envoy's cache beforehand
    (Envoy checks its sha256 on every use) and nack_on_cache_miss makes any failure, of the
    fetch or of the filter, refuse the configuration instead of skipping the filter."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(SO_PATH, cached(cache))
    env = static_gate(modules, upstream, tmp_path, nack=True,
                      source=SOURCE if code == "good" else BROKEN)
    if code == "good":
        with env:
            assert gate_of(env) == (200, "passed")
        assert modules.gets == []                       # served from the cache, not fetched
    else:
        with pytest.raises(EnvoyError, match="syntax error in <inline:gate@"):
            env.start(timeout=30)
        env.stop()


def test_xds_nack_on_cache_miss_fails_closed(modules, upstream, tmp_path):
    """The configuration that fails closed with xDS (here ECDS from a file): with
    nack_on_cache_miss, an uncached module is NACKed and fetched in the background; until a
    configuration is accepted the filter's config is missing and Envoy answers 500; once the
    module is cached, a new push loads it synchronously, so broken code or a module that
    cannot be fetched is NACKed while the last good filter keeps running."""
    path = tmp_path / "ecds.json"
    put(path, ecds_file(remote_filter(modules, SOURCE, nack=True), 1))
    env = envoy_with(modules, [ecds_listener(path)], upstream.port, tmp_path / "cache", node=True)
    with env:
        wait_counter(env, ECDS + "update_rejected", 1)
        assert "Remote module not cached; background fetch in progress" in env.log()
        assert gate_of(env) == (500, None)              # no accepted filter config: refused
        wait_until(lambda: "Background fetch complete" in env.log(), "the module is cached")
        assert cached(tmp_path / "cache").exists()
        # The control plane pushes again (changed: Envoy ignores a push identical to the
        # refused one), now served from the cache.
        put(path, ecds_file(remote_filter(modules, SOURCE, nack=True, attempt=1), 2))
        wait_counter(env, ECDS + "update_success", 1)
        wait_until(lambda: gate_of(env) == (200, "passed-1"), "the filter runs")
        # Broken code: refused at once (NACK), the running filter stays.
        put(path, ecds_file(remote_filter(modules, BROKEN, nack=True, attempt=2), 3))
        wait_counter(env, ECDS + "update_rejected", 2)
        assert "cannot load filter 'inline:gate': syntax error in <inline:gate@" in env.log()
        assert gate_of(env) == (200, "passed-1")
        # A module that cannot be fetched: refused, the running filter stays.
        put(path, ecds_file(remote_filter(modules, SOURCE, nack=True, attempt=3,
                                          path="/missing.so", sha256="ab" * 32), 4))
        wait_counter(env, ECDS + "update_rejected", 3)
        assert gate_of(env) == (200, "passed-1")
