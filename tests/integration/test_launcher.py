"""envoy_pyext.launcher, the one way Envoy is started (make run, these tests, the benchmark), and
tools/run.py (Envoy with any configuration file) on top of it: real ports read back, a dying
Envoy reported at once with its log, stopping by PID."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envoy_pyext import launcher

from .harness import ROOT, Upstream, bootstrap, filter_entry, listener


def _config(upstream_port: int, port: int = 0) -> dict:
    cfg = bootstrap([listener("proxy", [filter_entry("samples.add_header:AddHeader", "hi")])],
                    upstream_port)
    cfg["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"] = port
    return cfg


def _held_port():
    """A listening socket on 127.0.0.1, so that Envoy cannot bind its port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_ports_are_read_back_and_stop_is_by_pid(tmp_path):
    with Upstream() as up:
        envoy = launcher.Envoy(_config(up.port), workdir=tmp_path, pythonpath=[ROOT])
        with envoy:
            assert envoy.admin_port and envoy.ports["proxy"]
            assert envoy.addresses["proxy"] == ("127.0.0.1", envoy.ports["proxy"])
            assert envoy.filter_names() == ["samples.add_header:AddHeader"]
            assert envoy.admin("/ready").strip() == "LIVE"
        assert not envoy.alive() and envoy.returncode is not None
    assert (tmp_path / "envoy.json").is_file() and (tmp_path / "envoy.log").is_file()


def test_an_envoy_that_cannot_bind_fails_at_once_with_its_log(tmp_path):
    with Upstream() as up, _held_port() as held:
        envoy = launcher.Envoy(_config(up.port, held.getsockname()[1]), workdir=tmp_path,
                               pythonpath=[ROOT])
        started = time.monotonic()
        with pytest.raises(launcher.EnvoyError) as err:
            with envoy:
                pass
    assert time.monotonic() - started < 30  # not the readiness timeout
    assert "exited with status" in str(err.value)
    assert "cannot bind" in str(err.value), str(err.value)
    assert not envoy.alive()


def test_envoy_env_puts_the_paths_first_and_names_the_venv():
    env = launcher.envoy_env(["/a", Path("/b")], base={"PYTHONPATH": "/c", "X": "1"})
    assert env["PYTHONPATH"].split(":") == ["/a", "/b", "/c"]
    assert env["VIRTUAL_ENV"] == sys.prefix and env["X"] == "1"


def _run_py(config: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "run.py"), "--config", str(config),
                           "--workdir", str(config.parent), "--log-level", "warning", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_run_py_prints_the_addresses_envoy_bound(tmp_path):
    config = tmp_path / "run.json"
    with Upstream() as up:
        config.write_text(json.dumps(_config(up.port)))
        proc = _run_py(config, "--for", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "serves samples.add_header:AddHeader" in proc.stdout, proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if "listener proxy:" in ln)
    port = int(line.rsplit(":", 1)[1].strip("/"))
    assert port > 0, line
    assert f"curl -i -H 'x-user: alice' http://127.0.0.1:{port}/" in proc.stdout


def test_run_py_fails_when_envoy_cannot_bind(tmp_path):
    config = tmp_path / "run.json"
    with Upstream() as up, _held_port() as held:
        config.write_text(json.dumps(_config(up.port, held.getsockname()[1])))
        proc = _run_py(config, "--for", "30")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "exited with status" in proc.stderr and "cannot bind" in proc.stderr, proc.stderr
    assert "serves" not in proc.stdout
