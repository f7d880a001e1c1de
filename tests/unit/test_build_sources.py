# envoy-pyext: Apache-2.0
"""build_config.json is the one description of the build, and every build uses it.

tools/build_so.py and setup.py read build_config.json (through tools/build_config.py), Bazel
through the repository rule in tools/bazel/python_configure.bzl (@pyext_python//:defs.bzl).
These tests (no Bazel needed) check the file itself, that BUILD.bazel takes its sources, flags
and Cython invocation from the loaded constants, that python_configure.bzl reads the file by
its label, that no build file keeps a second copy, and that both built objects really are
compiled with its flags. tests/bazel checks the values Bazel ends up with.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_config  # noqa: E402  (tools/build_config.py)

CXX_SUFFIXES = (".cc", ".cpp", ".cxx", ".c++", ".C")
CFG = build_config.load()
# What @pyext_python//:defs.bzl hands BUILD.bazel, by name (tools/bazel/python_configure.bzl).
DEFS = {
    "SHIM_SRCS": CFG["shim_sources"],
    "CYTHON_ENTRY": CFG["cython_entry"],
    "CYTHON_DEPENDS": CFG["cython_depend_globs"],
}


def matches(globs: list[str], path: str) -> bool:
    """fnmatch per path segment: `*` never crosses a `/` (as in Bazel's and make's globs)."""
    parts = path.split("/")
    return any(len(g.split("/")) == len(parts)
               and all(fnmatch.fnmatchcase(p, gp) for p, gp in zip(parts, g.split("/")))
               for g in globs)


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
            if node.id in DEFS:  # loaded from @pyext_python//:defs.bzl
                value = DEFS[node.id]
                return ([value] if isinstance(value, str) else list(value)), []
            assert node.id in self.constants, f"BUILD.bazel uses undefined {node.id}"
            return self.files(self.constants[node.id])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.files(node.left), self.files(node.right)
            return left[0] + right[0], left[1] + right[1]
        if isinstance(node, ast.List):
            out: list[str] = []
            for elt in node.elts:
                out += self.files(elt)[0] if isinstance(elt, ast.Name) else [ast.literal_eval(elt)]
            return out, []
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glob":
            include_node = node.args[0] if node.args else self.attr_node(node, "include")
            include = (self.files(include_node)[0] if isinstance(include_node, ast.Name)
                       else ast.literal_eval(include_node))
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
            regex += "[^/]*".join(re.escape(part) for part in seg.split("*"))
            regex += "" if last else "/"
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


def test_build_config_names_existing_files():
    sources = CFG["shim_sources"]
    assert sources, "build_config.json lists no shim source"
    for src in sources:
        assert src.endswith(CXX_SUFFIXES), f"shim_sources: {src} is not a C++ source"
        assert (ROOT / src).is_file(), f"shim_sources: {src} does not exist"
    assert set(CFG["embed_only_sources"]) <= set(sources)
    assert "cpp/module.cc" in CFG["embed_only_sources"]  # the interpreter bootstrap
    assert (ROOT / CFG["cython_entry"]).is_file()
    for d in [*CFG["include_dirs"], *CFG["cython_include_path"]]:
        assert (ROOT / d).is_dir(), d
    for pattern in [*CFG["header_globs"], *CFG["cython_depend_globs"]]:
        assert list(ROOT.glob(pattern)), f"{pattern} matches no file"


def test_build_config_flags():
    flags = build_config.compile_flags(CFG)
    assert "-O2" in flags and "-std=c++17" in flags and "-fvisibility=hidden" in flags
    debug = build_config.compile_flags(CFG, debug=True)
    assert "-O0" in debug and "-O2" not in debug
    assert build_config.define_flags(CFG) == ['-DCYTHON_EXTERN_C=extern "C"']
    assert build_config.cython_args(CFG) == ["--cplus", "-X", "language_level=3", "-I", "src"]


def test_cython_depend_globs_cover_every_core_file():
    # Every file the .pyx can include or cimport (and the __init__.py files Cython names the
    # module from) must rebuild the core when edited, in make, setup.py's cythonize and Bazel.
    core = [
        str(p.relative_to(ROOT))
        for d in ("src/envoy_pyext/native", "src/envoy_pyext/includes")
        for p in sorted((ROOT / d).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    assert any(c.endswith(".pxi") for c in core) and any(c.endswith(".pxd") for c in core)
    globs = CFG["cython_depend_globs"]
    missing = [c for c in core if not matches(globs, c)]
    assert not missing, f"build_config.json's cython_depend_globs miss {missing}"
    assert matches(globs, "src/envoy_pyext/__init__.py")


def test_make_deps_cover_the_build():
    deps = build_config.make_deps(CFG)
    assert "build_config.json" in deps
    for f in [*CFG["shim_sources"], CFG["cython_entry"], "cpp/include/pyext_shim.h",
              "src/envoy_pyext/native/dispatch.pxi"]:
        assert f in deps or matches(deps, f), f
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_config.py"), "--make-deps"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == deps


def test_bazel_loads_the_build_config():
    build = Build()
    loaded = set()
    for node in build.tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", "") == "load" \
                and ast.literal_eval(node.value.args[0]) == "@pyext_python//:defs.bzl":
            loaded |= {ast.literal_eval(a) for a in node.value.args[1:]}
    want = {"SHIM_SRCS", "PYEXT_COPTS", "CYTHON_ENTRY", "CYTHON_DEPENDS", "CYTHON_ARGS"}
    assert want <= loaded, f"BUILD.bazel does not load {sorted(want - loaded)}"
    assert not want & set(build.constants), "BUILD.bazel redefines a loaded constant"
    bzl = (ROOT / "tools" / "bazel" / "python_configure.bzl").read_text()
    assert 'rctx.read(Label("//:build_config.json"))' in bzl
    for name in want:
        assert f'"{name}":' in bzl, f"python_configure.bzl does not define {name}"


def test_bazel_shim_sources_equal_the_config():
    build = Build()
    shim = build.rule("cc_library", "pyext_shim")
    srcs = expand(*build.files(build.attr_node(shim, "srcs")))
    bazel_cxx = [s for s in srcs if s.endswith(CXX_SUFFIXES)]
    assert bazel_cxx == CFG["shim_sources"], bazel_cxx


def test_every_bazel_cxx_unit_uses_the_config_copts():
    build = Build()
    for name in ("pyext_shim", "cython_core"):
        copts = build.attr_node(build.rule("cc_library", name), "copts")
        assert isinstance(copts, ast.Name) and copts.id == "PYEXT_COPTS", name


def test_no_other_bazel_target_compiles_a_shim_source():
    # A listed file compiled twice (e.g. by the Cython core too) would be a duplicate symbol.
    build = Build()
    owners = {}
    for node in ast.walk(build.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("cc_library", "cc_binary"):
            name = ast.literal_eval(build.attr_node(node, "name"))
            for src in expand(*build.files(build.attr_node(node, "srcs"))):
                owners.setdefault(src, []).append(name)
    for src in CFG["shim_sources"]:
        assert owners.get(src) == ["pyext_shim"], f"{src} is compiled by {owners.get(src)}"


def test_cython_genrule_runs_cython_as_configured():
    build = Build()
    rule = build.rule("genrule", "cython_core_cpp")
    cmd = build.attr_node(rule, "cmd")
    names = {n.id for n in ast.walk(cmd) if isinstance(n, ast.Name)}
    # <PYTHON_BIN> -m cython <CYTHON_ARGS> $(location <CYTHON_ENTRY>) -o ...: the invocation of
    # tools/build_so.py, run by the recorded interpreter (a bare python3 may lack Cython).
    assert {"PYTHON_BIN", "CYTHON_ARGS", "CYTHON_ENTRY"} <= names, ast.dump(cmd)
    text = " ".join(build.strings(cmd))
    assert "-m cython" in text and "$(location " in text, text
    assert not re.search(r"(^|[\s;])python3?\s", text), text


def test_cython_genrule_depends_on_every_core_file():
    build = Build()
    rule = build.rule("genrule", "cython_core_cpp")
    inputs = set(expand(*build.files(build.attr_node(rule, "srcs"))))
    want = {CFG["cython_entry"], "src/envoy_pyext/__init__.py",
            "src/envoy_pyext/includes/__init__.py"}
    want |= {str(p.relative_to(ROOT)) for g in CFG["cython_depend_globs"] for p in ROOT.glob(g)}
    missing = sorted(want - inputs)
    assert not missing, f"the Cython genrule does not depend on {missing}: edits would not rebuild"


def _code_strings(path: Path) -> list[str]:
    """The string constants of a Python/Starlark file, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
        and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("path", ["setup.py", "tools/build_so.py", "BUILD.bazel"])
def test_no_build_file_keeps_a_second_copy(path):
    values = {*CFG["shim_sources"], CFG["cython_entry"], *CFG["cxxflags"], *CFG["optflags"],
              *CFG["defines"], *CFG["cython_depend_globs"],
              "src/envoy_pyext/native/**", "--cplus", "-3"}
    copies = sorted({v for s in _code_strings(ROOT / path) for v in values
                     if re.search(r"(^|[\s'\"=])" + re.escape(v) + r"($|[\s'\"=])", s)})
    assert not copies, f"{path} repeats {copies} from build_config.json: read it instead"


def _producers(so: Path) -> set[str]:
    """The compiler command lines recorded in the object's DWARF (DW_AT_producer)."""
    out = subprocess.run(["readelf", "--debug-dump=info", str(so)], capture_output=True,
                         text=True, check=True).stdout
    found = re.finditer(r"DW_AT_producer\s*:\s*(?:\(.*?\):\s*)?(.*)", out)
    return {m.group(1).strip() for m in found}


def test_extension_and_libpyfilter_are_compiled_alike():
    # The unit tests drive envoy_pyext._native (setup.py); Envoy runs ./libpyfilter.so
    # (tools/build_so.py). Both must be optimised as build_config.json says. (Python's own
    # CFLAGS come first in the extension's command line; the last -O and -g win.)
    import envoy_pyext._native as native

    so = Path(os.environ.get("PYEXT_SO", ROOT / "libpyfilter.so"))
    assert so.is_file(), f"{so} is not built (make build-so-local)"
    want = [f for f in build_config.compile_flags(CFG) if f.startswith(("-O", "-g", "-std"))]
    for obj in (Path(native.__file__), so):
        producers = _producers(obj)
        assert producers, f"{obj} has no DWARF producer (built without -g?)"
        for prod in producers:
            for prefix in ("-O", "-g", "-std"):
                last = [f for f in prod.split() if f.startswith(prefix)
                        and (prefix != "-g" or re.fullmatch(r"-g\d?", f))][-1:]
                expected = [f for f in want if f.startswith(prefix)][-1:]
                assert last == expected, f"{obj}: {prefix} is {last}, not {expected}: {prod}"


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
