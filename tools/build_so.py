#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Builds libpyfilter.so: the C++ shim (cpp/) + the Cython core, linked to this interpreter's
shared libpython. Run with the project's virtualenv python (make build-so-local does).

Sources and flags come from build_config.json (tools/build_config.py), as for setup.py and
Bazel. Cython writes the core's C++ and its public header (_native.h) into the build directory;
the build then checks that the shim's own declarations of the pyext_* functions
(cpp/include/pyext_shim.h) agree with that generated header."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import sysconfig

import build_config

ROOT = build_config.ROOT


def python_link_flags() -> tuple[list[str], list[str]]:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        sys.exit("envoy-pyext needs a CPython built with --enable-shared (a libpython*.so); "
                 f"{sys.executable} has none")
    include = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    ldver = sysconfig.get_config_var("LDVERSION")
    return [f"-I{include}"], [f"-L{libdir}", f"-lpython{ldver}", f"-Wl,-rpath,{libdir}"]


def run(cmd: list[str], stdin: str | None = None) -> None:
    print("+", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, input=stdin, text=stdin is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="libpyfilter.so")
    ap.add_argument("--build-dir", default="build/so")
    ap.add_argument("--debug", action="store_true",
                    help="build_config.json's debug_optflags instead of optflags")
    ap.add_argument("--asan", action="store_true",
                    help="the AddressSanitizer variant (build_config.json's \"asan\" flags and "
                         "sources; default --out build/asan/libpyfilter.so)")
    args = ap.parse_args()
    if args.asan and args.debug:
        ap.error("--asan and --debug do not combine (the asan flags set their own -O)")
    if args.asan:
        if args.out == ap.get_default("out"):
            args.out = "build/asan/libpyfilter.so"
        if args.build_dir == ap.get_default("build_dir"):
            args.build_dir = "build/asan/obj"

    cfg = build_config.load()
    build = ROOT / args.build_dir
    build.mkdir(parents=True, exist_ok=True)
    (ROOT / args.out).parent.mkdir(parents=True, exist_ok=True)
    generated = build / "_native.cpp"  # Cython writes build/_native.h next to it
    run([sys.executable, "-m", "cython", *build_config.cython_args(cfg), cfg["cython_entry"],
         "-o", str(generated)])

    # The virtualenv's own python path (not resolved through its symlink): the embedded
    # interpreter impersonates it to find the venv's site-packages.
    venv_python = os.path.join(sys.prefix, "bin", "python")
    cflags, ldflags = python_link_flags()
    cxx = os.environ.get("CXX", "g++")
    flags = (build_config.asan_compile_flags(cfg) if args.asan
             else build_config.compile_flags(cfg, debug=args.debug))
    extra_sources = build_config.asan_sources(cfg) if args.asan else []
    extra_ldflags = build_config.asan_link_flags(cfg) if args.asan else []
    common = [*flags,
              *(f"-I{d}" for d in cfg["include_dirs"]), *cflags,
              *build_config.define_flags(cfg)]

    # pyext_shim.h declares the pyext_* functions the core defines (cdef public); a declaration
    # that disagrees with Cython's is a "conflicting declaration of C function" error here.
    run([cxx, *common, f"-I{build}", "-fsyntax-only", "-x", "c++", "-"],
        stdin='#include "pyext_shim.h"\n#include "_native.h"\n')

    run([cxx, "-shared", "-fPIC", *common, f'-DPYEXT_PYTHON="{venv_python}"',
         *build_config.shim_sources(cfg), *extra_sources, str(generated), *ldflags,
         *extra_ldflags, "-o", args.out])
    print(f"built {ROOT / args.out}")
    if args.asan:  # the preloaded reservation library (tools/asan/asan_reserve.c), beside it
        preload = (ROOT / args.out).parent / cfg["asan"]["preload_name"]
        run([os.environ.get("CC", "gcc"), *cfg["asan"]["preload_flags"],
             cfg["asan"]["preload_source"], *cfg["asan"]["preload_libs"], "-o", str(preload)])
        print(f"built {preload}")


if __name__ == "__main__":
    main()
