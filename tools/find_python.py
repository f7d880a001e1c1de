#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Prints the path of a CPython X.Y interpreter built with a shared libpython, for
`make test-matrix`. Looks for `pythonX.Y` on PATH (a pyenv shim counts only if it runs), then
under `pyenv root`'s versions; exits non-zero with a clear message when none fits.

    tools/find_python.py 3.12
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

CHECK = ("import sys, sysconfig; "
         "print('%d.%d' % sys.version_info[:2], sysconfig.get_config_var('Py_ENABLE_SHARED'))")


def works(path: str, version: str) -> str | None:
    """None if `path` is CPython `version` with a shared libpython, else why not."""
    try:
        out = subprocess.run([path, "-c", CHECK], capture_output=True, text=True, timeout=30)
    except OSError as e:
        return str(e)
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or ["does not run"])[0]
    got, shared = out.stdout.split()
    if got != version:
        return f"is Python {got}"
    if shared != "1":
        return "has no shared libpython (build it with --enable-shared)"
    return None


def candidates(version: str) -> list[str]:
    found = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    for base in filter(None, [root, os.path.expanduser("~/.pyenv")]):
        found += sorted(glob.glob(os.path.join(base, "versions", f"{version}*", "bin",
                                               f"python{version}")), reverse=True)
    return found


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    version = sys.argv[1]
    reasons = []
    for path in candidates(version):
        why = works(path, version)
        if why is None:
            print(path)
            return 0
        reasons.append(f"  {path}: {why}")
    print(f"find_python: no usable CPython {version} (shared libpython) found; install it "
          f"(e.g. `pyenv install {version}` with PYTHON_CONFIGURE_OPTS=--enable-shared) or put "
          f"python{version} on PATH." + ("\n" + "\n".join(reasons) if reasons else ""),
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
