# envoy-pyext: Apache-2.0
"""local_python_configure: the project's Python (a virtualenv's, usually) as a Bazel repository.

libpyfilter.so embeds CPython, so the build needs that interpreter's headers, its shared
libpython, and the interpreter itself to run Cython. This rule asks the interpreter (as
tools/build_so.py does, through sysconfig) and writes a repository, @<name>, with:

  //:python_headers  cc_library: the interpreter's C headers (Python.h, ...)
  //:libpython       cc_library: links -L<LIBDIR> -lpython<LDVERSION> -Wl,-rpath,<LIBDIR>
  //:defs.bzl        PYTHON_BIN   the interpreter, as given (runs Cython in the genrule)
                     PYEXT_PYTHON <sys.prefix>/bin/python, baked into libpyfilter.so
                     CYTHON_VERSION, PYTHON_INCLUDE, PYTHON_LIBDIR, PYTHON_LDVERSION
                     and, from //:build_config.json (the build description that
                     tools/build_so.py and setup.py read too):
                     SHIM_SRCS      the shim's C++ sources (shim_sources)
                     PYEXT_COPTS    cxxflags + optflags + -D<defines> + -DPYEXT_PYTHON,
                                    shell-quoted as copts are tokenized
                     CYTHON_ENTRY   the .pyx (cython_entry)
                     CYTHON_DEPENDS the files it includes (cython_depend_globs, for glob())
                     CYTHON_ARGS    `-m cython` options: --cplus -X <directive>=<v> -I <path>
                     BUILD_CONFIG   the whole file, decoded

Bazel cannot read a file in a BUILD file; a repository rule can. build_config.json is read
through its label, so Bazel re-runs this rule whenever the file changes.

The interpreter is $PYTHON_BIN_PATH (tools/bazel/build.sh always sets it, e.g. to the venv's
bin/python), else the workspace's .venv/bin/python (the Makefile's virtualenv), else the python3
on PATH. Its path is used as given, never resolved through
symlinks: a virtualenv's bin/python is a symlink, and only the unresolved path finds the venv's
site-packages (and so Cython).
"""

_PROBE = """
import os, sys, sysconfig
def var(name):
    value = sysconfig.get_config_var(name)
    return "" if value is None else str(value)
print("include=" + sysconfig.get_paths()["include"])
print("libdir=" + var("LIBDIR"))
print("ldversion=" + var("LDVERSION"))
print("shared=" + var("Py_ENABLE_SHARED"))
print("venv_python=" + os.path.join(sys.prefix, "bin", "python"))
try:
    import Cython
    print("cython=" + Cython.__version__)
except ImportError:
    print("cython=")
"""

def _interpreter(rctx):
    workspace = str(rctx.path(Label("//:WORKSPACE")).dirname)
    python = rctx.os.environ.get("PYTHON_BIN_PATH", "")
    if python:
        if not python.startswith("/"):
            # Relative to the workspace root (bazel runs repository rules elsewhere).
            python = "%s/%s" % (workspace, python)
        return python
    venv = rctx.path(workspace + "/.venv/bin/python")
    if venv.exists:
        return workspace + "/.venv/bin/python"  # the Makefile's virtualenv
    found = rctx.which("python3")
    if found == None:
        fail("local_python_configure: set PYTHON_BIN_PATH to the virtualenv's bin/python " +
             "(no .venv/bin/python and no python3 on PATH)")
    return str(found)

def _shell_quote(s):
    """One Bourne-shell word (copts are shell-tokenized)."""
    return "'" + s.replace("'", "'\\''") + "'"

def _build_config(rctx, venv_python):
    """The constants of defs.bzl that come from //:build_config.json."""
    raw = json.decode(rctx.read(Label("//:build_config.json")))
    cfg = {k: v for k, v in raw.items() if not k.startswith("__")}  # "__...": documentation
    defines = dict(cfg["defines"])
    defines["PYEXT_PYTHON"] = '"%s"' % venv_python
    copts = cfg["cxxflags"] + cfg["optflags"] + [
        _shell_quote("-D%s=%s" % (name, value))
        for name, value in defines.items()
    ]
    cython_args = ["--cplus"]
    for name, value in cfg["cython_directives"].items():
        cython_args += ["-X", "%s=%s" % (name, value)]
    for path in cfg["cython_include_path"]:
        cython_args += ["-I", path]
    return {
        "BUILD_CONFIG": cfg,
        "SHIM_SRCS": cfg["shim_sources"],
        "PYEXT_COPTS": copts,
        "CYTHON_ENTRY": cfg["cython_entry"],
        "CYTHON_DEPENDS": cfg["cython_depend_globs"],
        "CYTHON_ARGS": " ".join([_shell_quote(a) for a in cython_args]),
    }

def _local_python_configure_impl(rctx):
    python = _interpreter(rctx)
    result = rctx.execute([python, "-c", _PROBE])
    if result.return_code != 0:
        fail("local_python_configure: %s failed (%d):\n%s" %
             (python, result.return_code, result.stderr))
    info = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        info[key] = value

    if info.get("shared", "") not in ("1", "True"):
        fail(("envoy-pyext needs a CPython built with --enable-shared (a libpython*.so); " +
              "%s has none") % python)
    if not info.get("cython", ""):
        fail(("local_python_configure: %s has no Cython; set PYTHON_BIN_PATH to the project " +
              "virtualenv's bin/python (make venv installs Cython there)") % python)

    rctx.symlink(info["include"], "include")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD.bazel", """\
# Generated by //tools/bazel:python_configure.bzl for {python}
load("@rules_cc//cc:defs.bzl", "cc_library")

package(default_visibility = ["//visibility:public"])

exports_files(["defs.bzl"])

cc_library(
    name = "python_headers",
    hdrs = glob(["include/**/*.h"]),
    includes = ["include"],
)

cc_library(
    name = "libpython",
    linkopts = [
        "-L{libdir}",
        "-lpython{ldversion}",
        "-Wl,-rpath,{libdir}",
    ],
    deps = [":python_headers"],
)
""".format(python = python, libdir = info["libdir"], ldversion = info["ldversion"]))
    constants = {
        "PYTHON_BIN": python,
        "PYEXT_PYTHON": info["venv_python"],
        "CYTHON_VERSION": info["cython"],
        "PYTHON_INCLUDE": info["include"],
        "PYTHON_LIBDIR": info["libdir"],
        "PYTHON_LDVERSION": info["ldversion"],
    }
    constants.update(_build_config(rctx, info["venv_python"]))
    rctx.file("defs.bzl", "# Generated by //tools/bazel:python_configure.bzl\n" + "".join([
        "%s = %s\n" % (name, repr(value))
        for name, value in constants.items()
    ]))

local_python_configure = repository_rule(
    implementation = _local_python_configure_impl,
    environ = ["PYTHON_BIN_PATH", "PATH"],
    # Re-probed on every Bazel server start: a recreated virtualenv or an upgraded Cython is
    # picked up (the probe takes well under a second).
    local = True,
    configure = True,
)
