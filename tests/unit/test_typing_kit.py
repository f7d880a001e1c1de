"""The filter authors' kit (pure-Python modules: testing, the CLI, the checks, the traceback
helper, the echo filter) type-checks under mypy --strict against the stub, like the samples
(tests/unit/test_typing.py)."""

from __future__ import annotations

from pathlib import Path

from .test_typing import SRC, run_mypy

KIT = ["testing.py", "_teststream.py", "_testcontext.py", "cli.py", "_checks.py", "_tb.py",
       "echo.py"]


def test_kit_type_checks(tmp_path: Path) -> None:
    result = run_mypy([SRC / "envoy_pyext" / name for name in KIT], tmp_path)
    assert result.returncode == 0, result.output
    assert result.checked == len(KIT), result.output
