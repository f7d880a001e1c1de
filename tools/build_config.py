#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""build_config.json, the one description of how the Cython core and the C++ shim are compiled,
as its readers need it: tools/build_so.py and setup.py import this module; the Makefile runs it
(`python3 tools/build_config.py --make-deps`: the file patterns its targets depend on). Bazel
reads build_config.json itself (tools/bazel/python_configure.bzl).

Pure standard library, Python 3.8+: the Makefile may run it with a system python3.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "build_config.json"


def load(path: Path = CONFIG_PATH) -> dict:
    """The configuration without its "__..." documentation keys."""
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if not k.startswith("__")}


def shim_sources(cfg: dict, *, embed: bool = True) -> list[str]:
    """The shim's C++ sources; embed=False leaves out those only libpyfilter.so links (the
    interpreter bootstrap), as the extension module built by setup.py does."""
    skip = set() if embed else set(cfg["embed_only_sources"])
    return [s for s in cfg["shim_sources"] if s not in skip]


def compile_flags(cfg: dict, *, debug: bool = False) -> list[str]:
    """Compiler flags (without -D/-I), release or debug optimisation last."""
    return [*cfg["cxxflags"], *cfg["debug_optflags" if debug else "optflags"]]


def asan_compile_flags(cfg: dict) -> list[str]:
    """The AddressSanitizer build's compiler flags: the release flags, then the "asan" ones
    (its -O/-g win, being last)."""
    return [*compile_flags(cfg), *cfg["asan"]["cxxflags"]]


def asan_link_flags(cfg: dict) -> list[str]:
    """The AddressSanitizer build's extra link flags (-fsanitize=address, the --wrap list)."""
    return list(cfg["asan"]["ldflags"])


def asan_sources(cfg: dict) -> list[str]:
    """Sources compiled into the AddressSanitizer build only (tools/asan/)."""
    return list(cfg["asan"]["extra_sources"])


def define_flags(cfg: dict) -> list[str]:
    """-DNAME=VALUE, one argv element each (no shell)."""
    return [f"-D{name}={value}" for name, value in cfg["defines"].items()]


def cython_args(cfg: dict) -> list[str]:
    """`python -m cython` options (before the .pyx), equivalent to setup.py's cythonize()."""
    args = ["--cplus"]
    for name, value in cfg["cython_directives"].items():
        args += ["-X", f"{name}={value}"]
    for inc in cfg["cython_include_path"]:
        args += ["-I", inc]
    return args


def make_deps(cfg: dict) -> list[str]:
    """File patterns (for make's $(wildcard)) whose change rebuilds the core and the .so."""
    return [*cfg["shim_sources"], *cfg["header_globs"], cfg["cython_entry"],
            *cfg["cython_depend_globs"], str(CONFIG_PATH.relative_to(ROOT))]


def main(argv: list[str]) -> int:
    if argv == ["--make-deps"]:
        print(" ".join(make_deps(load())))
        return 0
    print("usage: build_config.py --make-deps", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
