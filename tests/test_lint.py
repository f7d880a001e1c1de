# envoy-pyext: Apache-2.0
"""Lint as an ordinary test: ruff over the Python sources and cython-lint over the Cython core,
with the configuration in pyproject.toml ([tool.ruff], [tool.cython-lint]).

Both tools come from requirements-dev.txt (make installs them into .venv). A missing tool fails
these tests, it does not skip them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Directories are walked by ruff (with pyproject.toml's excludes and .gitignore); the package's
# modules are named one by one (src/envoy_pyext holds the Cython core too).
PYTHON_PATHS = [*sorted((ROOT / "src" / "envoy_pyext").glob("*.py")), ROOT / "setup.py",
                ROOT / "tests", ROOT / "samples", ROOT / "tools", ROOT / "bench"]
CYTHON_FILES = sorted(p for ext in ("*.pyx", "*.pxi", "*.pxd")
                      for p in (ROOT / "src" / "envoy_pyext").rglob(ext))
INSTALL = "pip install -r requirements-dev.txt (make venv does)"


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    # The virtualenv's bin first on PATH: cython-lint runs `pycodestyle` from there.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _rel(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_ruff():
    version = _run([sys.executable, "-m", "ruff", "--version"])
    assert version.returncode == 0, f"ruff is missing: {INSTALL}\n{version.stderr}"
    proc = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format",
                 "concise", *_rel(PYTHON_PATHS)])
    assert proc.returncode == 0, f"ruff findings:\n{proc.stdout}{proc.stderr}"


def test_cython_lint():
    assert CYTHON_FILES and any(p.suffix == ".pxi" for p in CYTHON_FILES)
    main = "import sys; from cython_lint.cython_lint import main; sys.exit(main(sys.argv[1:]))"
    version = _run([sys.executable, "-c", main, "--version"])
    assert version.returncode == 0, f"cython-lint is missing: {INSTALL}\n{version.stderr}"
    proc = _run([sys.executable, "-c", main, *_rel(CYTHON_FILES)])
    assert proc.returncode == 0, f"cython-lint findings:\n{proc.stdout}{proc.stderr}"
