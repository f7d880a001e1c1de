#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""`make test-leaks`: unit tests (the Cython core driven against the fake host) under valgrind
memcheck, with CPython's allocator off (PYTHONMALLOC=malloc, so every object is a heap block
valgrind tracks).

    tools/leakcheck.py -- tests/unit/test_headermap.py [pytest args...]

Judged: every invalid access and every definitely-lost block whose stack reaches this
project's code (the envoy_pyext._native extension, i.e. the Cython core and the shim, or the
fake host): any one fails the run. CPython's own findings (the interpreter's known false
positives under valgrind, what it does not free at exit) are counted and listed, not judged.
The pytest run must pass too (Hypothesis without its timing checks: tools/leakcheck_plugin.py).
The XML and a JSON summary go to build/leaks/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "leaks"
OURS = ("envoy_pyext/_native", "fakehost", "/cpp/", "/src/envoy_pyext/")
VALGRIND = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--num-callers=40", "--trace-children=no",
            "--xml=yes"]


def frames(error: ET.Element) -> list[dict[str, str]]:
    out = []
    for st in error.findall("stack"):
        for fr in st.findall("frame"):
            d = {k: (fr.findtext(k) or "") for k in ("obj", "fn", "dir", "file", "line")}
            out.append(d)
    return out


def is_ours(fs: list[dict[str, str]]) -> bool:
    return any(any(p in f"{f['obj']} {f['dir']}/{f['file']}" for p in OURS) for f in fs)


def describe(error: ET.Element) -> str:
    what = error.findtext("what") or error.findtext("xwhat/text") or ""
    lines = [f"{error.findtext('kind')}: {what}"]
    for f in frames(error)[:25]:
        where = f"{f['file']}:{f['line']}" if f["file"] else f["obj"]
        lines.append(f"    {f['fn'] or '?'} ({where})")
    return "\n".join(lines)


def analyse(xml_path: Path) -> dict:
    root = ET.parse(xml_path).getroot()
    ours, theirs = [], {}
    for error in root.findall("error"):
        kind = error.findtext("kind") or "?"
        if is_ours(frames(error)):
            ours.append(describe(error))
        else:
            theirs[kind] = theirs.get(kind, 0) + 1
    return {"ours": ours, "cpython_and_others_by_kind": theirs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pytest_args", nargs="+", help="after --: test files and pytest options")
    args = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        sys.exit("leakcheck: valgrind is not installed (apt-get install valgrind)")
    OUT.mkdir(parents=True, exist_ok=True)
    xml_path = OUT / "memcheck.xml"
    # tools/ on the path for the plugin (Hypothesis without its timing checks)
    path = os.pathsep.join(p for p in (str(ROOT / "tools"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": path}
    cmd = [*VALGRIND, f"--xml-file={xml_path}", sys.executable, "-m", "pytest", "-q",
           "-p", "no:cacheprovider", "-p", "leakcheck_plugin", *args.pytest_args]
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    result = {"pytest_exit": rc, "tests": args.pytest_args, **analyse(xml_path)}
    (OUT / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"leakcheck: pytest exit {rc}; findings in the project's code: {len(result['ours'])}; "
          f"CPython's and others' (not judged): {result['cpython_and_others_by_kind']}; "
          f"details in {OUT / 'report.json'}")
    for text in result["ours"][:20]:
        print(text)
    return 0 if rc == 0 and not result["ours"] else 1


if __name__ == "__main__":
    sys.exit(main())
