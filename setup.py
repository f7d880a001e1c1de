# envoy-pyext: Apache-2.0
"""Builds the envoy_pyext package. Its extension `envoy_pyext._native` is the same Cython core
that libpyfilter.so embeds (make build-so-local), compiled with the same flags: sources, flags
and defines come from build_config.json (tools/build_config.py), which tools/build_so.py and
Bazel read too. As an ordinary extension it serves imports outside Envoy (tooling, type checks)
and the unit tests, which drive the real hooks against a fake host (tests/fakehost).

A regular (non-editable) build, so every wheel, also puts libpyfilter.so, the module Envoy
loads, into the package (envoy_pyext/libpyfilter.so; `envoy-pyext so-path` prints it): it is
built by tools/build_so.py's build(packaged=True) for the building interpreter, and the
extension is linked from the same objects (the core is compiled once). An editable install
(make) compiles the extension itself and leaves libpyfilter.so to `make build-so-local`."""

import re
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
import build_config  # noqa: E402  (tools/build_config.py)
import build_so  # noqa: E402  (tools/build_so.py)

VERSION = re.search(r'__version__ = "([^"]+)"',
                    (ROOT / "src/envoy_pyext/_version.py").read_text()).group(1)
CFG = build_config.load()


def extension() -> Extension:
    return Extension(
        "envoy_pyext._native",
        # The shim's hooks without the interpreter bootstrap (the extension runs in one).
        sources=[CFG["cython_entry"], *build_config.shim_sources(CFG, embed=False)],
        include_dirs=CFG["include_dirs"],
        language="c++",
        define_macros=list(CFG["defines"].items()),
        # After Python's own CFLAGS (e.g. -O3): the last -O/-g wins, so the unit tests run
        # the core as libpyfilter.so compiles it.
        extra_compile_args=build_config.compile_flags(CFG),
    )


class BuildExtAndSo(build_ext):
    """Editable: cythonize and compile the extension. Otherwise: libpyfilter.so into the
    package's build directory first, then the extension linked from its core objects."""

    def _with_so(self) -> bool:
        return not (self.inplace or getattr(self, "editable_mode", False))

    def _so_path(self) -> Path:
        return Path(self.build_lib).resolve() / "envoy_pyext" / "libpyfilter.so"

    def run(self):
        [ext] = self.extensions
        if self._with_so():
            built = build_so.build(self._so_path(), Path(self.build_temp).resolve() / "so",
                                   debug=bool(self.debug), packaged=True)
            ext.sources = []
            ext.extra_objects = [str(o) for o in built.core_objects]
            # No sources left: without the objects as dependencies setuptools would keep an
            # extension an earlier build left in build/lib (a stale _native in the wheel).
            ext.depends = list(ext.extra_objects)
        else:
            from Cython.Build import cythonize

            # Cython writes _native.cpp and its public header _native.h under build/cython.
            [cythonized] = cythonize([extension()], include_path=CFG["cython_include_path"],
                                     build_dir="build/cython",
                                     compiler_directives=dict(CFG["cython_directives"]))
            ext.sources = cythonized.sources
        super().run()

    def get_outputs(self):
        return [*super().get_outputs(), *([str(self._so_path())] if self._with_so() else [])]


setup(
    version=VERSION,
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtAndSo},
)
