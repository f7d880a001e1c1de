# envoy-pyext: Apache-2.0
"""Builds the envoy_pyext package. Its extension `envoy_pyext._native` is the same Cython core
that libpyfilter.so embeds (make build-so-local), compiled with the same flags: sources, flags
and defines come from build_config.json (tools/build_config.py), which tools/build_so.py and
Bazel read too. As an ordinary extension it serves imports outside Envoy (tooling, type checks)
and the unit tests, which drive the real hooks against a fake host (tests/fakehost)."""

import re
import sys
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
import build_config  # noqa: E402  (tools/build_config.py)

VERSION = re.search(r'__version__ = "([^"]+)"',
                    (ROOT / "src/envoy_pyext/_version.py").read_text()).group(1)


def extensions():
    from Cython.Build import cythonize

    cfg = build_config.load()
    ext = Extension(
        "envoy_pyext._native",
        # The shim's hooks without the interpreter bootstrap (the extension runs in one).
        sources=[cfg["cython_entry"], *build_config.shim_sources(cfg, embed=False)],
        include_dirs=cfg["include_dirs"],
        language="c++",
        define_macros=list(cfg["defines"].items()),
        # After Python's own CFLAGS (e.g. -O3): the last -O/-g wins, so the unit tests run
        # the core as libpyfilter.so compiles it.
        extra_compile_args=build_config.compile_flags(cfg),
    )
    # Cython writes _native.cpp and its public header _native.h under build/cython.
    return cythonize([ext], include_path=cfg["cython_include_path"], build_dir="build/cython",
                     compiler_directives=dict(cfg["cython_directives"]))


setup(
    version=VERSION,
    ext_modules=extensions(),
)
