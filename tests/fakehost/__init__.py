"""The fake Envoy host of the unit tests, all in this folder:

- fakehost.cc: the Envoy callbacks (envoy_dynamic_module_callback_*) a real Envoy would export,
  backed by plain C++ containers. Built here into build/fakehost/libfakehost.so and loaded
  RTLD_GLOBAL, so the extension's weak Envoy callbacks bind to it in this process. This must
  happen before anything imports envoy_pyext: tests/conftest.py imports this package first.
- driver.py: drives the real C++ hooks and Cython core of envoy_pyext._native against it.
"""

import ctypes
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKEHOST_SRC = ROOT / "tests" / "fakehost" / "fakehost.cc"
FAKEHOST_SO = ROOT / "build" / "fakehost" / "libfakehost.so"


def _build_fakehost() -> Path:
    deps = [FAKEHOST_SRC, ROOT / "cpp" / "include" / "envoy_abi.h"]
    if not FAKEHOST_SO.exists() or any(d.stat().st_mtime > FAKEHOST_SO.stat().st_mtime
                                       for d in deps):
        FAKEHOST_SO.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([os.environ.get("CXX", "g++"), "-std=c++17", "-shared", "-fPIC", "-O1",
                        f"-I{ROOT / 'cpp' / 'include'}", str(FAKEHOST_SRC), "-o", str(FAKEHOST_SO)],
                       check=True)
    return FAKEHOST_SO


if "envoy_pyext._native" in sys.modules:
    raise RuntimeError("envoy_pyext was imported before the fake host was loaded")
FAKEHOST = ctypes.CDLL(str(_build_fakehost()), mode=os.RTLD_GLOBAL)
assert sysconfig.get_config_var("Py_ENABLE_SHARED"), "envoy-pyext needs a shared libpython"
