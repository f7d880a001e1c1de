# envoy-pyext: Apache-2.0
"""The Bazel build (BUILD.bazel, `make build-so-bazel`) really builds libpyfilter.so.

Runs tools/bazel/build.sh (which installs Debian's bazel-bootstrap if `bazel` is missing, and
builds offline), then checks the result against the reference build (tools/build_so.py):
the same envoy_dynamic_module_on_* hooks exported, and one request through a real Envoy 1.40
with the Bazel-built .so and the samples.add_header filter. The Bazel server is shut down
afterwards. A cold build takes well under a minute here (2 cores).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(ROOT))

from tests.integration.harness import EnvoyProcess, Upstream  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import build_config  # noqa: E402  (tools/build_config.py)

pytestmark = pytest.mark.slow

HOOK_PREFIX = "envoy_dynamic_module_on_"


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def bazel_so():
    env = dict(os.environ, PYTHON_BIN_PATH=sys.executable)
    started = time.monotonic()
    try:
        proc = _run(["bash", "tools/bazel/build.sh"], timeout=540, env=env)
        assert proc.returncode == 0, (
            f"tools/bazel/build.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        printed = Path(proc.stdout.strip().splitlines()[-1]).resolve()
        assert printed == ROOT / "build" / "bazel" / "libpyfilter.so", proc.stdout
        assert printed.is_file()
        print(f"bazel build: {time.monotonic() - started:.1f}s")
        yield printed
    finally:
        # Never leave a Bazel server (a JVM) behind, whatever happened above.
        bazel = shutil.which("bazel")
        if bazel:
            _run([bazel, "shutdown"], timeout=120)


@pytest.fixture(scope="module")
def local_so(tmp_path_factory):
    """./libpyfilter.so (make build-so-local), built with tools/build_so.py if absent."""
    so = ROOT / "libpyfilter.so"
    if so.is_file():
        return so
    out = tmp_path_factory.mktemp("local-so")
    proc = _run([sys.executable, "tools/build_so.py", "--out", str(out / "libpyfilter.so"),
                 "--build-dir", str(out / "build")], timeout=540)
    assert proc.returncode == 0, f"tools/build_so.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out / "libpyfilter.so"


def exported_hooks(so: Path) -> set[str]:
    proc = _run(["nm", "-D", "--defined-only", str(so)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    names = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        # "<address> T <name>": text symbols in the dynamic symbol table, i.e. exported functions
        if len(parts) == 3 and parts[1] == "T" and parts[2].startswith(HOOK_PREFIX):
            names.add(parts[2])
    return names


def test_bazel_so_exports_every_hook_of_the_reference_build(bazel_so, local_so):
    reference = exported_hooks(local_so)
    assert f"{HOOK_PREFIX}program_init" in reference, f"{local_so} exports no hooks?"
    bazel = exported_hooks(bazel_so)
    missing = sorted(reference - bazel)
    assert not missing, f"the Bazel-built {bazel_so} lacks hooks {missing}"


def test_bazel_so_links_the_shared_libpython_with_an_rpath(bazel_so):
    proc = _run(["readelf", "-d", str(bazel_so)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    libdir = sysconfig.get_config_var("LIBDIR")
    needed = f"[libpython{sysconfig.get_config_var('LDVERSION')}.so"
    assert any("(NEEDED)" in ln and needed in ln for ln in proc.stdout.splitlines()), proc.stdout
    assert any(("(RUNPATH)" in ln or "(RPATH)" in ln) and libdir in ln
               for ln in proc.stdout.splitlines()), f"no rpath to {libdir}:\n{proc.stdout}"


def test_bazel_takes_sources_and_flags_from_build_config(bazel_so):
    # What Bazel really evaluated (BUILD.bazel + @pyext_python//:defs.bzl, which the repository
    # rule wrote from build_config.json), against the file as tools/build_so.py reads it.
    bazel = shutil.which("bazel")
    proc = _run([bazel, "query", f"--repo_env=PYTHON_BIN_PATH={sys.executable}", "--output=xml",
                 "//:pyext_shim + //:cython_core + //:cython_core_cpp"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    rules = {}
    for rule in ET.fromstring(proc.stdout).iter("rule"):
        attrs = {}
        for node in rule:
            if node.tag == "list":
                attrs[node.get("name")] = [e.get("value") for e in node]
            elif node.tag == "string":
                attrs[node.get("name")] = node.get("value")
        rules[rule.get("name")] = attrs

    cfg = build_config.load()
    label = "//:{}".format
    shim_srcs = [s for s in rules["//:pyext_shim"]["srcs"] if s.endswith(".cc")]
    assert shim_srcs == [label(s) for s in cfg["shim_sources"]]
    venv_python = os.path.join(sys.prefix, "bin", "python")
    want = [*build_config.compile_flags(cfg), *build_config.define_flags(cfg),
            f'-DPYEXT_PYTHON="{venv_python}"']
    for lib in ("//:pyext_shim", "//:cython_core"):
        copts = [tok for c in rules[lib]["copts"] for tok in shlex.split(c)]  # as Bazel tokenizes
        assert copts == want, lib
    genrule = rules["//:cython_core_cpp"]
    inputs = set(genrule["srcs"])
    assert label(cfg["cython_entry"]) in inputs
    for pattern in cfg["cython_depend_globs"]:
        for path in ROOT.glob(pattern):
            assert label(str(path.relative_to(ROOT))) in inputs, path
    cmd = shlex.split(genrule["cmd"])
    args = ["-m", "cython", *build_config.cython_args(cfg)]
    assert any(cmd[i:i + len(args)] == args for i in range(len(cmd))), genrule["cmd"]
    assert f"$(location {cfg['cython_entry']})" in genrule["cmd"]


def test_envoy_serves_a_request_through_the_bazel_built_so(bazel_so):
    with Upstream() as upstream, EnvoyProcess(
            {"bazel": ("samples.add_header:AddHeader", "built by bazel")}, upstream.port,
            so_path=bazel_so) as envoy:
        status, headers, body = envoy.request("bazel", headers={"x-user": "alice"})
        maps = Path(f"/proc/{envoy.pid()}/maps").read_text()
        log = envoy.log()
    assert status == 200, log
    response = {k.lower(): v for k, v in headers}
    assert response.get("x-filter") == "alice", (headers, log)
    assert response.get("x-greeting") == "built by bazel", headers
    seen = json.loads(body)["headers"]
    assert ["x-seen", "1"] in seen, seen
    # The filter ran from the Bazel-built object, not from ./libpyfilter.so.
    assert str(bazel_so) in maps
    assert str(ROOT / "libpyfilter.so") not in maps


def test_bazel_so_finds_the_venv_without_virtual_env(bazel_so):
    # With no VIRTUAL_ENV, the embedded interpreter starts as the python baked in at build time
    # (-DPYEXT_PYTHON, the venv's bin/python, from @pyext_python); only through it does it find
    # the venv's site-packages, where envoy_pyext is installed. A wrong or missing path fails
    # Envoy's start (envoy_pyext cannot be imported).
    with Upstream() as upstream:
        envoy = EnvoyProcess({"bazel": ("samples.add_header:AddHeader", "")}, upstream.port,
                             so_path=bazel_so)
        envoy.env.pop("VIRTUAL_ENV", None)
        with envoy:
            status, headers, _ = envoy.request("bazel", headers={"x-user": "bob"})
            log = envoy.log()
    assert status == 200, log
    assert ("x-filter", "bob") in [(k.lower(), v) for k, v in headers], headers


FAKE_ENVOY = r"""
#include <dlfcn.h>
#include <cstdio>
// What Envoy 1.40 does for dynamic_module_config {name: "pyext"} before looking for a file.
int main() {
  void* prefixed = dlsym(RTLD_DEFAULT, "pyext_envoy_dynamic_module_on_program_init");
  void* plain = dlsym(RTLD_DEFAULT, "envoy_dynamic_module_on_program_init");
  std::printf("prefixed=%d plain=%d\n", prefixed != nullptr, plain != nullptr);
  return prefixed != nullptr && plain == nullptr ? 0 : 1;
}
"""


def test_shim_archive_renames_for_a_static_envoy(bazel_so, tmp_path):
    # docs/bazel.md, "Linking the module into an Envoy built with Bazel": rename the hooks in
    # the shim's archive with objcopy --redefine-syms and link it, with the Cython core and
    # libpython, into an executable that exports them; a stand-in for Envoy then finds the
    # module's init by its prefixed name only.
    bazel = shutil.which("bazel")
    proc = _run([bazel, "build", f"--repo_env=PYTHON_BIN_PATH={sys.executable}",
                 "//:pyext_shim", "//:cython_core"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    bin_dir = Path(_run([bazel, "info", f"--repo_env=PYTHON_BIN_PATH={sys.executable}",
                         "bazel-bin"], timeout=120).stdout.strip())
    shim, core = bin_dir / "libpyext_shim.lo", bin_dir / "libcython_core.lo"
    assert shim.is_file() and core.is_file(), sorted(p.name for p in bin_dir.iterdir())

    hooks = sorted(exported_hooks(bazel_so))
    (tmp_path / "syms.txt").write_text("".join(f"{h} pyext_{h}\n" for h in hooks))
    renamed = tmp_path / "libpyext_shim_prefixed.a"
    proc = _run(["objcopy", f"--redefine-syms={tmp_path / 'syms.txt'}", str(shim), str(renamed)],
                timeout=60)
    assert proc.returncode == 0, proc.stderr
    symbols = _run(["nm", str(renamed)], timeout=60).stdout.split()
    assert [h for h in hooks if f"pyext_{h}" not in symbols] == []
    assert [h for h in hooks if h in symbols] == []
    assert "Py_Initialize" in symbols  # undefined references keep their names

    (tmp_path / "main.cc").write_text(FAKE_ENVOY)
    libdir = sysconfig.get_config_var("LIBDIR")
    exe = tmp_path / "fake_envoy"
    proc = _run([os.environ.get("CXX", "g++"), "-std=c++17", str(tmp_path / "main.cc"),
                 "-o", str(exe), "-Wl,--export-dynamic",
                 "-Wl,--whole-archive", str(renamed), str(core), "-Wl,--no-whole-archive",
                 f"-L{libdir}", f"-lpython{sysconfig.get_config_var('LDVERSION')}",
                 f"-Wl,-rpath,{libdir}", "-ldl"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = _run([str(exe)], timeout=60)
    assert run.returncode == 0 and "prefixed=1 plain=0" in run.stdout, run.stdout + run.stderr
