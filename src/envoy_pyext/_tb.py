# envoy-pyext: Apache-2.0
"""Tracebacks that point at the user's code (private; used by the runtime and the tester).

The runtime logs the traceback of every exception a hook raises. Frames of the runtime itself
(the Cython core: envoy_pyext/_native.pyx and envoy_pyext/native/*.pxi; the tester's
envoy_pyext/_teststream.py and testing.py) and of Python's import machinery say nothing to
the filter's author: each run of them is collapsed into one line, so the traceback shows the
user's frames and the exception. ``user_location`` gives the innermost user frame's file and
line, for the log line's ``[file:line]``.
"""

from __future__ import annotations

import os
import traceback
from types import TracebackType
from typing import Any

__all__ = ["format_exception", "is_runtime_file", "user_location"]

_PKG = os.path.dirname(os.path.abspath(__file__))
_PY_RUNTIME = {os.path.join(_PKG, name) for name in ("_teststream.py", "_testcontext.py",
                                                    "testing.py", "_tb.py", "_checks.py")}


def is_runtime_file(filename: str) -> bool:
    """True for a file of envoy-pyext's runtime (or of Python's import machinery)."""
    if filename.startswith("<frozen importlib"):
        return True
    norm = filename.replace(os.sep, "/")
    if norm.endswith(".pxi") and "envoy_pyext/native/" in norm:
        return True
    if norm.endswith("envoy_pyext/_native.pyx"):
        return True
    return os.path.abspath(filename) in _PY_RUNTIME


class _Hidden(traceback.FrameSummary):
    """Stands for a run of runtime frames in a trimmed stack."""

    def __init__(self, count: int) -> None:
        super().__init__("<envoy-pyext>", 0, "<runtime>", lookup_line=False, line="")
        self.count = count


class _TrimmedStack(traceback.StackSummary):
    def format_frame_summary(self, frame_summary: traceback.FrameSummary,
                             **kwargs: Any) -> str:  # (3.13 passes colorize=)
        if isinstance(frame_summary, _Hidden):
            n = frame_summary.count
            return f"  [{n} envoy-pyext runtime frame{'s' if n != 1 else ''} hidden]\n"
        return super().format_frame_summary(frame_summary, **kwargs)


def _trim(stack: traceback.StackSummary) -> traceback.StackSummary:
    out: list[traceback.FrameSummary] = []
    hidden = 0
    for frame in stack:
        if is_runtime_file(frame.filename):
            hidden += 1
            continue
        if hidden:
            out.append(_Hidden(hidden))
            hidden = 0
        out.append(frame)
    if hidden:
        out.append(_Hidden(hidden))
    return _TrimmedStack(out)


def _trim_chain(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = _trim(te.stack)
    for nxt in (te.__cause__, te.__context__):
        if nxt is not None:
            _trim_chain(nxt, seen)
    for sub in getattr(te, "exceptions", None) or ():  # ExceptionGroup members
        _trim_chain(sub, seen)


def format_exception(exc: BaseException) -> str:
    """The traceback of ``exc`` (with its causes) as text, runtime frames collapsed."""
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        _trim_chain(te, set())
        return "".join(te.format())
    except Exception:  # never let formatting hide the error itself
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def user_location(exc: BaseException) -> tuple[str, int]:
    """(file, line) of the innermost frame of ``exc``'s traceback that is the user's code, or
    ("envoy_pyext", 0) when there is none."""
    tb: TracebackType | None = exc.__traceback__
    found = ("envoy_pyext", 0)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not is_runtime_file(filename):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
