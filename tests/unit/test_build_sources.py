# envoy-pyext: Apache-2.0
"""BUILD.bazel and cpp/SOURCES describe the same build (no Bazel needed: this reads BUILD.bazel).

cpp/SOURCES is the one list of the shim's C++ sources: tools/build_so.py and setup.py read it,
but Bazel cannot read a file at load time, so BUILD.bazel repeats it. These tests parse
BUILD.bazel (Starlark here is a subset of Python syntax) and check that the repeated list, and
the Cython genrule, say what the reference build (tools/build_so.py) does.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CXX_SUFFIXES = (".cc", ".cpp", ".cxx", ".c++", ".C")


def cpp_sources() -> list[str]:
    """The non-comment lines of cpp/SOURCES (the rule tools/build_so.py applies)."""
    lines = (ROOT / "cpp" / "SOURCES").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


class Build:
    """The parsed BUILD.bazel: module-level constants and rule calls, and a tiny evaluator for
    the list expressions used in attributes (literals, constants, `+`, glob())."""

    def __init__(self, path: Path = ROOT / "BUILD.bazel"):
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.constants = {
            node.targets[0].id: node.value
            for node in self.tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        }

    def rule(self, kind: str, name: str) -> ast.Call:
        found = [
            node for node in ast.walk(self.tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == kind and self.attr_node(node, "name") is not None
            and ast.literal_eval(self.attr_node(node, "name")) == name
        ]
        assert len(found) == 1, f"BUILD.bazel should have exactly one {kind}(name = {name!r})"
        return found[0]

    @staticmethod
    def attr_node(call: ast.Call, attr: str) -> ast.expr | None:
        for kw in call.keywords:
            if kw.arg == attr:
                return kw.value
        return None

    def files(self, node: ast.expr | None) -> tuple[list[str], list[tuple[list[str], list[str]]]]:
        """(literal labels in order, [(glob include patterns, exclude patterns), ...])."""
        if node is None:
            return [], []
        if isinstance(node, ast.Name):
            assert node.id in self.constants, f"BUILD.bazel uses undefined {node.id}"
            return self.files(self.constants[node.id])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.files(node.left), self.files(node.right)
            return left[0] + right[0], left[1] + right[1]
        if isinstance(node, ast.List):
            return [ast.literal_eval(elt) for elt in node.elts], []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "glob":
            include = ast.literal_eval(node.args[0] if node.args else self.attr_node(node, "include"))
            exclude_node = self.attr_node(node, "exclude")
            exclude = ast.literal_eval(exclude_node) if exclude_node is not None else []
            return [], [(include, exclude)]
        raise AssertionError(f"unsupported expression in BUILD.bazel: {ast.dump(node)}")

    def strings(self, node: ast.expr | None) -> list[str]:
        """Every string constant inside an expression (e.g. a genrule's cmd)."""
        if node is None:
            return []
        out = []
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in self.constants:
                out += self.strings(self.constants[sub.id])
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                out.append(sub.value)
        return out


def glob_regex(pattern: str) -> re.Pattern:
    """A Bazel glob pattern as a regex over workspace-relative paths (`*`, `**`)."""
    segments = pattern.split("/")
    regex = ""
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += "[^/]*".join(re.escape(part) for part in seg.split("*")) + ("" if last else "/")
    return re.compile(regex)


def globbed(globs: list[tuple[list[str], list[str]]], path: str) -> bool:
    return any(
        any(glob_regex(p).fullmatch(path) for p in include)
        and not any(glob_regex(p).fullmatch(path) for p in exclude)
        for include, exclude in globs
    )


def expand(literals: list[str], globs) -> list[str]:
    """The workspace files an attribute names: literals in order, then glob matches sorted."""
    candidates = set()
    for include, _ in globs:
        for pattern in include:
            # Walk only the directory before the pattern's first wildcard (like Bazel, and fast).
            fixed = []
            for seg in pattern.split("/")[:-1]:
                if "*" in seg:
                    break
                fixed.append(seg)
            top = ROOT.joinpath(*fixed)
            for dirpath, _, filenames in os.walk(top):  # symlinks are not followed
                for f in filenames:
                    candidates.add(str((Path(dirpath) / f).relative_to(ROOT)))
    matched = sorted(c for c in candidates if globbed(globs, c))
    return literals + [m for m in matched if m not in literals]


def test_glob_regex_follows_bazel_semantics():
    assert glob_regex("cpp/*.h").fullmatch("cpp/log.h")
    assert not glob_regex("cpp/*.h").fullmatch("cpp/include/envoy_abi.h")
    assert glob_regex("src/x/**").fullmatch("src/x/a/b.pxi")
    assert glob_regex("**/__pycache__/**").fullmatch("src/x/__pycache__/a.pyc")
    assert not glob_regex("src/x/**").fullmatch("src/y/a.pxi")


def test_cpp_sources_lists_existing_cxx_files():
    sources = cpp_sources()
    assert sources, "cpp/SOURCES lists no source"
    for src in sources:
        assert src.endswith(CXX_SUFFIXES), f"cpp/SOURCES: {src} is not a C++ source"
        assert (ROOT / src).is_file(), f"cpp/SOURCES: {src} does not exist"


def test_bazel_shim_sources_equal_cpp_sources():
    build = Build()
    shim = build.rule("cc_library", "pyext_shim")
    srcs = expand(*build.files(build.attr_node(shim, "srcs")))
    bazel_cxx = [s for s in srcs if s.endswith(CXX_SUFFIXES)]
    assert bazel_cxx == cpp_sources(), (
        "BUILD.bazel's pyext_shim srcs and cpp/SOURCES disagree: "
        f"BUILD.bazel {bazel_cxx} vs cpp/SOURCES {cpp_sources()}; update SHIM_SRCS in BUILD.bazel")


def test_no_other_bazel_target_compiles_a_cpp_sources_file():
    # A listed file compiled twice (e.g. by the Cython core too) would be a duplicate symbol.
    build = Build()
    owners = {}
    for node in ast.walk(build.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("cc_library", "cc_binary"):
            name = ast.literal_eval(build.attr_node(node, "name"))
            for src in expand(*build.files(build.attr_node(node, "srcs"))):
                owners.setdefault(src, []).append(name)
    for src in cpp_sources():
        assert owners.get(src) == ["pyext_shim"], f"{src} is compiled by {owners.get(src)}"


def test_cython_genrule_runs_cython_on_native_pyx():
    build = Build()
    rule = build.rule("genrule", "cython_core_cpp")
    srcs, globs = build.files(build.attr_node(rule, "srcs"))
    assert "src/envoy_pyext/_native.pyx" in srcs
    cmd = " ".join(build.strings(build.attr_node(rule, "cmd")))
    # The invocation of tools/build_so.py: <python> -m cython -3 --cplus -I src <pyx>
    for piece in ("-m cython", "-3", "--cplus", "-I src", "$(location src/envoy_pyext/_native.pyx)"):
        assert piece in cmd, f"the Cython genrule's cmd lacks {piece!r}: {cmd!r}"
    # Run by the recorded interpreter, never a bare python3 (which may lack Cython).
    assert not re.search(r"(^|[\s;])python3?\s", cmd), cmd
    assert "PYTHON_BIN" in ast.dump(build.attr_node(rule, "cmd"))


def test_cython_genrule_depends_on_every_core_file():
    build = Build()
    rule = build.rule("genrule", "cython_core_cpp")
    inputs = set(expand(*build.files(build.attr_node(rule, "srcs"))))
    core = [
        str(p.relative_to(ROOT))
        for d in ("src/envoy_pyext/native", "src/envoy_pyext/includes")
        for p in sorted((ROOT / d).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    assert any(c.endswith(".pxi") for c in core) and any(c.endswith(".pxd") for c in core)
    missing = [c for c in core if c not in inputs]
    assert not missing, f"the Cython genrule does not depend on {missing}: edits would not rebuild"
    # Cython names the module from the package __init__.py files, so they are inputs too.
    assert "src/envoy_pyext/__init__.py" in inputs
    assert "src/envoy_pyext/includes/__init__.py" in inputs


def test_libpyfilter_so_links_shim_core_and_libpython():
    build = Build()
    so = build.rule("cc_binary", "libpyfilter.so")
    assert ast.literal_eval(build.attr_node(so, "linkshared")) is True
    deps = set(build.files(build.attr_node(so, "deps"))[0])
    assert {":pyext_shim", ":cython_core", "@pyext_python//:libpython"} <= deps
    # Every hook must survive the link although nothing references it.
    for lib in ("pyext_shim", "cython_core"):
        rule = build.rule("cc_library", lib)
        assert ast.literal_eval(build.attr_node(rule, "alwayslink")) is True, lib
