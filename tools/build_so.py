#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Builds libpyfilter.so: the C++ shim (cpp/) + the Cython core, linked to this interpreter's
shared libpython. Run with the project's virtualenv python (make build-so-local does); setup.py
calls build() too, for the copy a wheel carries inside the envoy_pyext package (--packaged).

Sources and flags come from build_config.json (tools/build_config.py), as for setup.py and
Bazel. Cython writes the core's C++ and its public header (_native.h) into the build directory;
the build then checks that the shim's own declarations of the pyext_* functions
(cpp/include/pyext_shim.h) agree with that generated header.

Which python the embedded interpreter impersonates is decided at run time (cpp/module.cc:
$ENVOY_PYEXT_PYTHON, the installation the .so lies in, $VIRTUAL_ENV). A checkout build also bakes in
this virtualenv's python as the last resort (-DPYEXT_PYTHON); a packaged build bakes in no path
of the build environment, and finds libpython by its soname through the RUNPATH
$ORIGIN/../../.. (<prefix>/lib, for an install into a base CPython) and the base CPython's
LIBDIR (where a virtualenv's pyvenv.cfg `home` points too), else the loader's own search
(LD_LIBRARY_PATH, ld.so.cache)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import build_config

ROOT = build_config.ROOT
# From <prefix>/lib/pythonX.Y/site-packages/envoy_pyext/ up to <prefix>/lib.
PACKAGED_RPATH = "$ORIGIN/../../.."


def python_link_flags(*, packaged: bool = False) -> tuple[list[str], list[str]]:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        sys.exit("envoy-pyext needs a CPython built with --enable-shared (a libpython*.so); "
                 f"{sys.executable} has none")
    include = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    ldver = sysconfig.get_config_var("LDVERSION")
    rpath = f"{PACKAGED_RPATH}:{libdir}" if packaged else libdir
    return [f"-I{include}"], [f"-L{libdir}", f"-lpython{ldver}", f"-Wl,-rpath,{rpath}"]


def run(cmd: list[str], stdin: str | None = None) -> None:
    print("+", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, input=stdin, text=stdin is not None)


class Built:
    """What build() made: the .so, and the objects it was linked from (`core_objects`: all but
    the embed-only ones, what setup.py links the envoy_pyext._native extension of a wheel
    from, so that a wheel compiles the core once)."""

    def __init__(self, so: Path, core_objects: list[Path]) -> None:
        self.so = so
        self.core_objects = core_objects


def build(out: str | os.PathLike, build_dir: str | os.PathLike, *, debug: bool = False,
          packaged: bool = False) -> Built:
    """Builds libpyfilter.so at `out` (relative paths: to the repository root), the generated
    C++ and the objects under `build_dir`. `packaged`: for a wheel (no build-time path of this
    virtualenv in it, see the module's doc)."""
    cfg = build_config.load()
    build = ROOT / build_dir
    build.mkdir(parents=True, exist_ok=True)
    out = ROOT / out
    out.parent.mkdir(parents=True, exist_ok=True)
    generated = build / "_native.cpp"  # Cython writes build/_native.h next to it
    run([sys.executable, "-m", "cython", *build_config.cython_args(cfg), cfg["cython_entry"],
         "-o", str(generated)])

    cflags, ldflags = python_link_flags(packaged=packaged)
    cxx = os.environ.get("CXX", "g++")
    common = [*build_config.compile_flags(cfg, debug=debug),
              *(f"-I{d}" for d in cfg["include_dirs"]), *cflags,
              *build_config.define_flags(cfg)]

    # pyext_shim.h declares the pyext_* functions the core defines (cdef public); a declaration
    # that disagrees with Cython's is a "conflicting declaration of C function" error here.
    run([cxx, *common, f"-I{build}", "-fsyntax-only", "-x", "c++", "-"],
        stdin='#include "pyext_shim.h"\n#include "_native.h"\n')

    # A checkout build's last resort: the virtualenv's own python path (not resolved through its
    # symlink), whose pyvenv.cfg leads the embedded interpreter to the venv's site-packages.
    baked = [] if packaged else [f'-DPYEXT_PYTHON="{os.path.join(sys.prefix, "bin", "python")}"']
    embed_only = set(cfg["embed_only_sources"])
    objects: list[tuple[Path, bool]] = []  # (object, linked into the extension too)
    for source in [*build_config.shim_sources(cfg), str(generated)]:
        obj = build / (Path(source).stem + ".o")
        defines = baked if source in embed_only else []
        run([cxx, "-c", "-fPIC", *common, *defines, source, "-o", str(obj)])
        objects.append((obj, source not in embed_only))
    run([cxx, "-shared", *(str(o) for o, _ in objects), *ldflags, "-o", str(out)])
    print(f"built {out}")
    return Built(out, [o for o, core in objects if core])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="libpyfilter.so")
    ap.add_argument("--build-dir", default="build/so")
    ap.add_argument("--debug", action="store_true",
                    help="build_config.json's debug_optflags instead of optflags")
    ap.add_argument("--packaged", action="store_true",
                    help="as a wheel carries it: no path of this virtualenv baked in")
    args = ap.parse_args()
    build(args.out, args.build_dir, debug=args.debug, packaged=args.packaged)


if __name__ == "__main__":
    main()
