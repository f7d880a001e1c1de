#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Builds libpyfilter.so: the C++ shim (cpp/) + the Cython core, linked to this interpreter's
shared libpython. Run with the project's virtualenv python (make build-so-local does)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sources() -> list[str]:
    lines = (ROOT / "cpp" / "SOURCES").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def python_link_flags() -> tuple[list[str], list[str]]:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        sys.exit("envoy-pyext needs a CPython built with --enable-shared (a libpython*.so); "
                 f"{sys.executable} has none")
    include = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    ldver = sysconfig.get_config_var("LDVERSION")
    return [f"-I{include}"], [f"-L{libdir}", f"-lpython{ldver}", f"-Wl,-rpath,{libdir}"]


def run(cmd: list[str]) -> None:
    print("+", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="libpyfilter.so")
    ap.add_argument("--build-dir", default="build/so")
    ap.add_argument("--debug", action="store_true", help="-O0 -g")
    args = ap.parse_args()

    build = ROOT / args.build_dir
    build.mkdir(parents=True, exist_ok=True)
    generated = build / "_native.cpp"
    run([sys.executable, "-m", "cython", "-3", "--cplus", "-I", "src",
         "src/envoy_pyext/_native.pyx", "-o", str(generated)])

    # The virtualenv's own python path (not resolved through its symlink): the embedded
    # interpreter impersonates it to find the venv's site-packages.
    venv_python = os.path.join(sys.prefix, "bin", "python")
    cflags, ldflags = python_link_flags()
    cxx = os.environ.get("CXX", "g++")
    opt = ["-O0", "-g"] if args.debug else ["-O2", "-g1"]
    run([cxx, "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", *opt,
         "-Wall", "-Wno-unused-function", "-Wno-unused-parameter",
         "-Icpp/include", "-Icpp", *cflags, "-DCYTHON_EXTERN_C=extern \"C\"", f'-DPYEXT_PYTHON="{venv_python}"',
         *sources(), str(generated), *ldflags, "-o", args.out])
    print(f"built {ROOT / args.out}")


if __name__ == "__main__":
    main()
