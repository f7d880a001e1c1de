"""The envoy-pyext command with the real Envoy: `run` (echo and URL upstreams, Ctrl-C and
SIGTERM, a port in use, a configuration Envoy refuses), `config` (Envoy validates it),
`build-so`. tests/unit/test_cli.py has the commands that need no Envoy."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from .harness import ROOT, SO_PATH, Upstream, envoy_binary, envoy_env

CLI = [sys.executable, "-m", "envoy_pyext"]


class Cli:
    """`envoy-pyext run ...` started by the test; its stdout read line by line. `command` and
    `env`: another envoy-pyext (test_wheel.py: a wheel's, in its own virtualenv)."""

    def __init__(self, *args: str, cwd: Path = ROOT, command: list[str] | None = None,
                 env: dict[str, str] | None = None):
        argv = [*CLI, "run", *args, "--so", str(SO_PATH)] if command is None else \
            [*command, "run", *args]
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=envoy_env() if env is None else env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def banner(self, timeout: float = 60) -> dict[str, str]:
        """Waits for the banner (Envoy ready) and returns its fields; {} if the CLI exited."""
        fields: dict[str, str] = {}
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                return fields
            m = re.match(r"envoy-pyext: Envoy \(pid (\d+)\)", line)
            if m:
                fields["pid"] = m[1]
            m = re.match(r"\s+(listening on|upstream|admin|try|stop):\s+(.*)", line)
            if m:
                fields[m[1]] = m[2].strip()
                if m[1] == "stop":
                    return fields

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def cli_runs():
    started: list[Cli] = []
    yield started
    for c in started:
        c.stop()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_with_the_echo_upstream_until_stopped(cli_runs, sig):
    c = Cli("samples.add_header:AddHeader", "--config", "hi", "--listen", "127.0.0.1:0")
    cli_runs.append(c)
    b = c.banner()
    url = b["listening on"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/"), b
    assert b["try"] == f"curl -i {url}"
    req = urllib.request.Request(url + "p?q=1", data=b"payload", headers={"x-user": "ann"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        assert r.headers["x-filter"] == "ann" and r.headers["x-greeting"] == "hi"
        echoed = json.loads(r.read())
    assert (echoed["method"], echoed["path"], echoed["body"]) == ("POST", "/p?q=1", "payload")
    assert echoed["headers"]["x-seen"] == "1"
    c.proc.send_signal(sig)
    assert c.wait() == 0
    assert gone(int(b["pid"])), "Envoy outlived envoy-pyext run"


def test_run_with_an_upstream_url(cli_runs):
    with Upstream() as up:
        c = Cli("samples.add_header:AddHeader", "--listen", "127.0.0.1:0",
                "--upstream", f"http://127.0.0.1:{up.port}")
        cli_runs.append(c)
        b = c.banner()
        assert b["upstream"] == f"http://127.0.0.1:{up.port}"
        with urllib.request.urlopen(b["listening on"], timeout=30) as r:
            assert r.status == 200 and r.headers["x-filter"] == "anonymous"
        assert ["x-seen", "1"] in up.received[-1]["headers"]
        c.proc.send_signal(signal.SIGTERM)
        assert c.wait() == 0


def test_run_fails_when_the_port_is_taken(cli_runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        c = Cli("samples.add_header:AddHeader", "--listen", f"127.0.0.1:{port}")
        cli_runs.append(c)
        assert c.banner() == {}
        assert c.wait() == 1
    err = "".join(c.err)
    assert f"cannot listen on 127.0.0.1:{port}" in err, err[-2000:]


def test_run_fails_when_envoy_refuses_the_filter(cli_runs):
    # --no-check: the check in Envoy itself refuses it, Envoy exits, the command says why.
    c = Cli("samples.auth_local_reply:ApiKeyAuth", "--config", '{"keys": []}', "--no-check",
            "--listen", "127.0.0.1:0")
    cli_runs.append(c)
    assert c.banner() == {}
    assert c.wait() == 1
    err = "".join(c.err)
    assert "Envoy refused the filter configuration" in err
    assert "'keys' must be a non-empty list of API keys" in err


def test_run_checks_the_filter_before_starting_envoy(cli_runs):
    c = Cli("samples.auth_local_reply:ApiKeyAuth", "--config", '{"keys": []}')
    cli_runs.append(c)
    assert c.wait() == 1
    assert "parse_config rejected the filter_config: ValueError" in "".join(c.err)


@pytest.mark.parametrize("upstream", [[], ["--upstream", "http://127.0.0.1:8080"],
                                      ["--upstream", "https://example.com"]])
def test_config_is_valid_for_envoy(tmp_path, upstream):
    out = subprocess.run([*CLI, "config", "samples.add_header:AddHeader", "--config", "a: 'b'",
                          "--so", str(SO_PATH), *upstream], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "envoy.yaml"
    path.write_text(out.stdout)
    proc = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error",
                           "--disable-hot-restart", "--use-dynamic-base-id"],
                          env=envoy_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "value: \"a: 'b'\"" in out.stdout


@pytest.mark.slow
def test_build_so_builds_a_module_envoy_runs(tmp_path, cli_runs):
    so = tmp_path / "built" / "libpyfilter.so"
    proc = subprocess.run([*CLI, "build-so", "--out", str(so)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == str(so) and so.is_file()
    c = subprocess.Popen([*CLI, "run", "samples.add_header:AddHeader", "--listen",
                          "127.0.0.1:0", "--so", str(so), "--for", "60"], cwd=ROOT,
                         env=envoy_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        url = None
        for line in c.stdout:
            m = re.search(r"listening on:\s+(\S+)", line)
            if m:
                url = m[1]
                break
        assert url, "no banner"
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.headers["x-filter"] == "anonymous"
    finally:
        c.send_signal(signal.SIGTERM)
        c.wait(60)


def test_run_reload_uses_a_saved_change_without_restarting(cli_runs, tmp_path):
    pkg = tmp_path / "reloadme"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    code = ("from envoy_pyext import Filter\n\n\nclass Versioned(Filter):\n"
            "    def encode_headers(self, headers, end_stream):\n"
            "        headers['x-version'] = '{}'\n")
    (pkg / "f.py").write_text(code.format(1))
    c = Cli("reloadme.f:Versioned", "--pythonpath", str(tmp_path), "--reload",
            "--listen", "127.0.0.1:0")
    cli_runs.append(c)
    b = c.banner()
    url = b["listening on"]

    def version():
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.headers["x-version"]

    assert version() == "1"
    (pkg / "f.py").write_text(code.format(2))
    deadline = time.monotonic() + 30   # bounded poll: the watcher checks every 0.5 s
    while version() != "2":
        assert time.monotonic() < deadline, "the saved change was not picked up"
        time.sleep(0.1)
    (pkg / "f.py").write_text("this is not python(\n")    # a broken save keeps the old code
    assert version() == "2" and not gone(int(b["pid"]))
