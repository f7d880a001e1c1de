# envoy-pyext: Apache-2.0
"""Builds the envoy_pyext package. Its extension `envoy_pyext._native` is the same Cython core
that libpyfilter.so embeds (make build-so-local); as an ordinary extension it serves imports
outside Envoy (tooling, type checks) and the unit tests, which drive the real hooks against a
fake host (tests/fakehost)."""

import re
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (ROOT / "src/envoy_pyext/_version.py").read_text()).group(1)

# The shim's hooks without module.cc (no interpreter bootstrap in an extension module).
SOURCES = [ln.strip() for ln in (ROOT / "cpp/SOURCES").read_text().splitlines()
           if ln.strip() and not ln.lstrip().startswith("#")]
HOOKS = [s for s in SOURCES if not s.endswith("module.cc")]


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "envoy_pyext._native",
        sources=["src/envoy_pyext/_native.pyx", *HOOKS],
        include_dirs=["cpp/include", "cpp"],
        language="c++",
        define_macros=[("CYTHON_EXTERN_C", 'extern "C"')],
        extra_compile_args=["-std=c++17", "-fvisibility=hidden", "-Wno-unused-function"],
    )
    return cythonize([ext], include_path=["src"], build_dir="build/cython", compiler_directives={"language_level": 3})


setup(
    version=VERSION,
    ext_modules=extensions(),
)
