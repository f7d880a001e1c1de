# envoy-pyext: Apache-2.0
"""From a DynamicModuleFilter's ``filter_name`` and ``filter_config`` to the Filter class that
runs, and which version of its code that is.

Called by the Cython core (native/config.pxi) on Envoy's main thread for every new filter
configuration, and by the development watcher's thread (``reload``). Pure Python.

Two ways to name the code (docs/deploying.md has the YAML):

- ``filter_name: package.module:Class`` (a ``:`` in it): a module on ``sys.path``; the whole
  ``filter_config`` goes to ``parse_config``.
- ``filter_name: <label>`` (no ``:``; letters, digits, ``_ . -``): ``filter_config`` is a
  ``google.protobuf.Struct`` (Envoy hands it over as JSON) with the keys

  ``source``  the Python source of the filter module (inline code), or
  ``class``   with ``source``: the class's name in it (optional if the source defines exactly
              one Filter subclass); without ``source``: ``package.module:Class``
  ``config``  what ``parse_config`` gets: a string as it is, any other value as its JSON text
  ``sha256``  (inline) the hex SHA-256 of ``source``: anything else is refused
  ``reload``  (module) ``true``: watch the module's files and use a saved change within about a
              second, without a new configuration from Envoy (development)
  ``interpreter``  ``"shared"`` (the default: one interpreter for the whole process) or
              ``"per_worker"`` (CPython 3.12+: each Envoy worker runs the filter in its own
              sub-interpreter; docs/design.md "Interpreters")

Versions. Each module (or inline label) has a current :class:`Version`. A new configuration
reuses it while its files are unchanged (module-level state survives an update that does not
change the code); when they changed, the code is loaded again as *new module objects*. The old
objects stay with the configurations and in-flight streams that use them, and are freed when
the last of those is gone (:func:`reap`, called by the runtime, runs the cycle collector once
then, because a module, its functions and its classes always form reference cycles).
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import importlib.machinery
import json
import linecache
import logging
import os
import re
import sys
import threading
import types
import weakref
from typing import Any

from ._native import Filter, FilterConfigError

__all__ = ["Code", "Version", "load", "reap", "stats", "watch", "unwatch", "RELOAD_VAR",
           "RELOAD_INTERVAL_VAR"]

log = logging.getLogger("envoy_pyext")

# ENVOY_PYEXT_RELOAD=1: every `package.module:Class` configuration of the process is watched
# (what `envoy-pyext run --reload` sets: envoy_pyext.launcher.reload_env).
RELOAD_VAR = "ENVOY_PYEXT_RELOAD"
RELOAD_INTERVAL_VAR = "ENVOY_PYEXT_RELOAD_INTERVAL"   # seconds between checks (default 0.5)
DEFAULT_INTERVAL = 0.5

_LABEL = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_INLINE_KEYS = {"source", "class", "config", "sha256", "interpreter"}
_MODULE_KEYS = {"class", "config", "reload", "interpreter"}
INTERPRETERS = ("shared", "per_worker")

_lock = threading.RLock()           # one load at a time (Envoy's main thread, the watcher)
_current: dict[str, Version] = {}   # key ("module:<name>", "inline:<label>") -> its version
_counts = {"code_versions": 0, "code_loads": 0}
# Modules of freed versions (name, weak reference), until they are gone themselves.
_retired: list[tuple[str, weakref.ref[types.ModuleType]]] = []
_collect = False                    # a version was freed since the last reap()
_live_versions: weakref.WeakSet[Version] = weakref.WeakSet()   # every version alive


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Version:
    """One loaded version of a filter's code: its module objects and the hashes of the source
    they were made from. Kept alive by every FilterConfig (and so every stream) using it, and
    by the registry while it is the current one."""

    def __init__(self, key: str, modules: list[types.ModuleType], files: dict[str, str],
                 serial: int, digest: str, inline_name: str | None = None):
        self.key = key
        self.modules = modules
        self.files = files            # path -> sha256 of the bytes that were compiled
        self.serial = serial          # 1, 2, ... per key
        self.digest = digest          # sha256 over the sources (inline: of `source`)
        self.inline_name = inline_name  # the linecache name of inline source
        _counts["code_versions"] += 1
        _live_versions.add(self)

    def __repr__(self) -> str:
        return f"<code {self.key} v{self.serial} {self.digest[:12]}>"

    def changed(self) -> bool:
        """True when a source file differs from what this version was made from (or is
        gone). Inline source never changes."""
        return any(_hash_file(path) != h for path, h in self.files.items())

    def disk_digest(self) -> str:
        """A digest of the current content of this version's files."""
        return _sha("\0".join(f"{p}={_hash_file(p)}" for p in sorted(self.files)).encode())

    def __del__(self) -> None:
        global _collect
        try:
            _counts["code_versions"] -= 1
            if self.inline_name is not None:
                linecache.cache.pop(self.inline_name, None)
            for m in self.modules:
                _retired.append((m.__name__, weakref.ref(m)))
            self.modules = []
            _collect = True
        except Exception:  # interpreter shutdown: nothing to do
            pass


class Code:
    """What a filter configuration runs: the class, the string for parse_config, and the
    version of the code the class comes from."""

    def __init__(self, filter_name: str, filter_config: str, cls: type, raw: str,
                 version: Version, reload: bool):
        self.filter_name = filter_name
        self.filter_config = filter_config
        self.cls = cls
        self.raw = raw
        self.version = version
        self.reload = reload

    def __repr__(self) -> str:
        return f"<Code {self.filter_name} {self.cls.__qualname__} from {self.version!r}>"


def _hash_file(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return _sha(f.read())
    except OSError:
        return None


def _env_reload() -> bool:
    return os.environ.get(RELOAD_VAR, "") not in ("", "0")


# ---- entry point --------------------------------------------------------------------------------

def load(filter_name: str, filter_config: str) -> Code:
    """The Code for one DynamicModuleFilter entry. Raises FilterConfigError (Envoy rejects
    the configuration) with a message saying what is wrong and where."""
    with _lock:
        if ":" in filter_name:
            return _load_module_class(filter_name, filter_config, filter_config, _env_reload())
        spec = _envelope(filter_name, filter_config)
        raw = _raw_config(spec.get("config", ""))
        if "source" in spec:
            return _load_inline(filter_name, filter_config, spec, raw)
        return _load_module_class(filter_name, filter_config, raw,
                                  _reload_flag(filter_name, spec) or _env_reload(),
                                  target=spec["class"])


def interpreter_of(filter_name: str, filter_config: str) -> str:
    """The configuration's ``interpreter`` option: "shared" (also for ``package.module:Class``
    names, whose filter_config is all parse_config's) or "per_worker". Raises
    FilterConfigError for a bad value, or per_worker with ``reload``."""
    if ":" in filter_name:
        return "shared"
    spec = _envelope(filter_name, filter_config)
    value = spec.get("interpreter", "shared")
    if value not in INTERPRETERS:
        raise FilterConfigError(
            f"envoy-pyext: {filter_name}: 'interpreter' must be one of "
            f"{', '.join(map(repr, INTERPRETERS))} (got {value!r})")
    if value == "per_worker" and spec.get("reload", False) is True:
        raise FilterConfigError(
            f"envoy-pyext: {filter_name}: 'reload' is not available with interpreter "
            f"'per_worker' (the watcher is one thread of one interpreter); use the shared "
            f"interpreter while developing")
    return str(value)


def _envelope(label: str, filter_config: str) -> dict[str, Any]:
    how = (f"envoy-pyext: filter_name {label!r} must name a class as "
           f"'package.module:ClassName', or be a label (letters, digits, '_', '.', '-') with a "
           f"filter_config Struct holding 'source' (inline code) or 'class' "
           f"(see docs/deploying.md)")
    if not _LABEL.match(label):
        raise FilterConfigError(how)
    try:
        spec = json.loads(filter_config) if filter_config.strip() else None
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or not ("source" in spec or "class" in spec):
        raise FilterConfigError(f"{how}; its filter_config is not such a Struct")
    allowed = _INLINE_KEYS if "source" in spec else _MODULE_KEYS
    unknown = sorted(set(spec) - allowed)
    if unknown:
        kind = "inline source" if "source" in spec else "a module's class"
        raise FilterConfigError(
            f"envoy-pyext: {label}: unknown key(s) {', '.join(map(repr, unknown))} in the "
            f"filter_config of {kind} (allowed: {', '.join(sorted(allowed))})")
    if "source" in spec and not isinstance(spec["source"], str):
        raise FilterConfigError(f"envoy-pyext: {label}: 'source' must be a string")
    if "class" in spec and not isinstance(spec["class"], str):
        raise FilterConfigError(f"envoy-pyext: {label}: 'class' must be a string")
    if "source" not in spec and ":" not in spec["class"]:
        raise FilterConfigError(
            f"envoy-pyext: {label}: without 'source', 'class' must name a class as "
            f"'package.module:ClassName' (got {spec['class']!r})")
    return spec


def _raw_config(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _reload_flag(label: str, spec: dict[str, Any]) -> bool:
    value = spec.get("reload", False)
    if not isinstance(value, bool):
        raise FilterConfigError(f"envoy-pyext: {label}: 'reload' must be true or false")
    return value


def _check_class(what: str, cls: Any) -> type:
    if not isinstance(cls, type) or not issubclass(cls, Filter):
        raise FilterConfigError(
            f"envoy-pyext: {what!r} is not a subclass of envoy_pyext.Filter (it is {cls!r})")
    if cls is Filter:
        raise FilterConfigError(
            f"envoy-pyext: {what!r} is envoy_pyext.Filter itself; name your subclass")
    return cls


def _format_exc(e: BaseException) -> str:
    import traceback
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


def _syntax_error(what: str, e: SyntaxError) -> FilterConfigError:
    where = f"{e.filename}:{e.lineno}" + (f":{e.offset}" if e.offset else "")
    text = (e.text or "").strip()
    return FilterConfigError(
        f"envoy-pyext: cannot load filter {what!r}: syntax error in {where}: {e.msg}"
        + (f"\n    {text}" if text else ""))


def _make_current(key: str, new: Version) -> None:
    old = _current.get(key)
    _current[key] = new
    _counts["code_loads"] += 1
    if old is not None:
        log.info("%s: new code version %d (%s), replacing version %d", key,
                 new.serial, new.digest[:12], old.serial)


# ---- inline source ------------------------------------------------------------------------------

def _load_inline(label: str, filter_config: str, spec: dict[str, Any], raw: str) -> Code:
    source: str = spec["source"]
    data = source.encode("utf-8", "surrogateescape")
    digest = _sha(data)
    pinned = spec.get("sha256")
    if pinned is not None:
        if not isinstance(pinned, str) or not _HEX64.match(pinned):
            raise FilterConfigError(
                f"envoy-pyext: {label}: 'sha256' must be 64 hex digits (the SHA-256 of "
                f"'source'), got {pinned!r}")
        if pinned.lower() != digest:
            raise FilterConfigError(
                f"envoy-pyext: {label}: the inline source does not match its pinned sha256: "
                f"the configuration says {pinned.lower()}, the source hashes to {digest}; "
                f"refusing to run it")
    key = f"inline:{label}"
    version = _current.get(key)
    if version is None or version.digest != digest:
        version = _compile_inline(key, data, digest)
    module = version.modules[0]
    name = spec.get("class")
    if name is None:
        found = [v for v in vars(module).values() if isinstance(v, type)
                 and issubclass(v, Filter) and v is not Filter and v.__module__ == key]
        if len(found) != 1:
            raise FilterConfigError(
                f"envoy-pyext: {label}: the inline source defines "
                f"{len(found)} Filter subclasses ({', '.join(c.__name__ for c in found) or 'none'})"
                f"; name the one to run with 'class'")
        cls = found[0]
    else:
        try:
            cls = getattr(module, name)
        except AttributeError:
            raise FilterConfigError(
                f"envoy-pyext: {label}: the inline source defines no {name!r}") from None
        cls = _check_class(f"{key}:{name}", cls)
    return Code(label, filter_config, cls, raw, version, False)


def _compile_inline(key: str, data: bytes, digest: str) -> Version:
    previous = _current.get(key)
    serial = previous.serial + 1 if previous is not None else 1
    filename = f"<{key}@{digest[:12]}>"
    try:
        code = compile(data, filename, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise _syntax_error(key, e) from None
    except (ValueError, UnicodeDecodeError) as e:   # NUL bytes, bad encoding declaration
        raise FilterConfigError(f"envoy-pyext: cannot load filter {key!r}: {e}") from None
    text = data.decode("utf-8", "surrogateescape")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(text), None, lines, filename)
    module = types.ModuleType(key)
    module.__dict__["__builtins__"] = __builtins__
    old_entry = sys.modules.get(key)
    sys.modules[key] = module   # as an import does: dataclasses & co look the module up here
    try:
        exec(code, module.__dict__)
    except BaseException as e:
        linecache.cache.pop(filename, None)
        if old_entry is not None:
            sys.modules[key] = old_entry
        else:
            sys.modules.pop(key, None)
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {key!r}: running its source raised:\n"
            f"{_format_exc(e)}") from None
    version = Version(key, [module], {}, serial, digest, inline_name=filename)
    _make_current(key, version)
    return version


# ---- package.module:Class -----------------------------------------------------------------------

def _family(root: str) -> dict[str, types.ModuleType]:
    """The loaded modules named `root` or `root.*`."""
    return {n: m for n, m in list(sys.modules.items())
            if m is not None and (n == root or n.startswith(root + "."))}


def _family_root(module_name: str, module: types.ModuleType | None) -> str:
    """What is loaded again together with a module: the module's own package (its directory):
    `pkg.sub.mod` -> `pkg.sub` and every `pkg.sub.*`; a package or a top-level module ->
    itself and its submodules."""
    if "." not in module_name or (module is not None and hasattr(module, "__path__")):
        return module_name
    return module_name.rpartition(".")[0]


def _source_of(module: types.ModuleType) -> str | None:
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if isinstance(origin, str) and origin.endswith(".py") and os.path.isfile(origin):
        return origin
    return None


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles the source file itself: no bytecode cache is read or written (a .pyc is
    validated by the source's mtime in seconds and its size, so an edit within the same
    second that keeps the size would run the old code), and records the hash of exactly the
    bytes it compiled."""

    def __init__(self, fullname: str, path: str, hashes: dict[str, str]):
        super().__init__(fullname, path)
        self._hashes = hashes

    def get_code(self, fullname: str) -> types.CodeType:
        data = self.get_data(self.path)
        self._hashes[self.path] = _sha(data)
        return self.source_to_code(data, self.path)


class _SourceFinder:
    """On sys.meta_path while a filter module is imported: the modules of its package that
    this import loads are compiled from their source (_SourceLoader)."""

    def __init__(self, root: str, hashes: dict[str, str]):
        self.root = root
        self.hashes = hashes

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.root and not name.startswith(self.root + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader \
                and spec.origin:
            spec.loader = _SourceLoader(name, spec.origin, self.hashes)
            spec.cached = None
        return spec


def _load_module_class(filter_name: str, filter_config: str, raw: str, reload: bool,
                       target: str | None = None) -> Code:
    target = filter_name if target is None else target
    module_name, _, class_name = target.partition(":")
    if not module_name or not class_name:
        raise FilterConfigError(
            f"envoy-pyext: filter_name {target!r} must name a class as "
            f"'package.module:ClassName'")
    key = f"module:{module_name}"
    version = _current.get(key)
    loaded = sys.modules.get(module_name)
    if loaded is None:
        module, version = _new_version(target, module_name, key, None)
    elif version is not None and version.modules[0] is loaded:
        if version.changed():     # a new version: new module objects, the old ones stay
            module, version = _new_version(target, module_name, key, loaded)
        else:
            module = loaded       # unchanged: the same module objects (and their state)
    else:                         # imported by someone else: this is the version that runs
        module = loaded
        version = _make_version(key, module_name, module, {})
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {target!r}: module {module_name!r} has no "
            f"attribute {class_name!r}") from None
    _check_class(target, cls)
    return Code(filter_name, filter_config, cls, raw, version, reload)


def _new_version(target: str, module_name: str, key: str,
                 old: types.ModuleType | None) -> tuple[types.ModuleType, Version]:
    """Imports `module_name`. When it is loaded already (`old`), as new module objects: the
    loaded modules of its package leave sys.modules first (and come back if the import
    fails); the old objects stay with whoever uses them."""
    hashes: dict[str, str] = {}
    purged = _family(_family_root(module_name, old)) if old is not None else {}
    for name in purged:
        del sys.modules[name]
    importlib.invalidate_caches()
    finder = _SourceFinder(module_name.rpartition(".")[0] or module_name, hashes)
    sys.meta_path.insert(0, finder)
    try:
        module = importlib.import_module(module_name)
    except BaseException as e:
        if purged:
            for name in _family(_family_root(module_name, old)):
                del sys.modules[name]
            sys.modules.update(purged)
        raise _import_error(target, module_name, e) from None
    finally:
        sys.meta_path.remove(finder)
    return module, _make_version(key, module_name, module, hashes)


def _make_version(key: str, module_name: str, module: types.ModuleType,
                  hashes: dict[str, str]) -> Version:
    """A new current version for `key`: `module` and the loaded modules of its package, with
    the hashes of their source files (those compiled just now: of the compiled bytes)."""
    family = _family(_family_root(module_name, module))
    files = dict(hashes)
    for m in family.values():
        path = _source_of(m)
        if path is not None and path not in files:
            h = _hash_file(path)
            if h is not None:
                files[path] = h
    previous = _current.get(key)
    serial = previous.serial + 1 if previous is not None else 1
    digest = _sha("\0".join(f"{p}={h}" for p, h in sorted(files.items())).encode())
    modules = [module] + [m for m in family.values() if m is not module]
    version = Version(key, modules, files, serial, digest)
    _make_current(key, version)
    return version


def _import_error(target: str, module_name: str, e: BaseException) -> FilterConfigError:
    if isinstance(e, ModuleNotFoundError) and e.name is not None and (
            module_name == e.name or module_name.startswith(e.name + ".")):
        return FilterConfigError(
            f"envoy-pyext: cannot load filter {target!r}: module {module_name!r} not found "
            f"(searched sys.path = {sys.path!r}; add its directory to PYTHONPATH)")
    if isinstance(e, SyntaxError):
        err = _syntax_error(target, e)
        return FilterConfigError(f"{err}\n{_format_exc(e)}")
    if isinstance(e, ImportError):
        return FilterConfigError(
            f"envoy-pyext: cannot load filter {target!r}: importing {module_name!r} "
            f"failed:\n{_format_exc(e)}")
    return FilterConfigError(
        f"envoy-pyext: cannot load filter {target!r}: importing {module_name!r} raised:\n"
        f"{_format_exc(e)}")


# ---- freeing old versions -----------------------------------------------------------------------

def reap() -> int:
    """Called by the runtime after a FilterConfig was freed (at a point where no hook runs):
    if a version of some code was freed with it, runs the cycle collector once so that its
    modules (module -> function -> globals cycles) are freed now. Returns the number of
    modules of freed versions that are still alive afterwards (something else holds them)."""
    global _collect
    if not _collect:
        return 0
    _collect = False
    gc.collect()
    left = _unreleased()
    names = sorted({n for n, r in _retired if r() is not None} - _warned)
    if left and names:
        _warned.update(names)
        log.warning("%d module object(s) of replaced code versions are still "
                    "referenced after their last configuration and stream were freed: %s "
                    "(a thread, a callback or a registry outside the filter holds them)",
                    left, ", ".join(names))
    return left


_warned: set[str] = set()   # module names reported as unreleased already


def _unreleased() -> int:
    _retired[:] = [(n, r) for n, r in _retired if r() is not None]
    if not _retired:
        return 0
    held = {id(m) for v in list(_live_versions) for m in v.modules}
    held.update(id(m) for m in list(sys.modules.values()))
    return sum(1 for _, r in _retired if id(r()) not in held)


def stats() -> dict[str, int]:
    """For envoy_pyext.stats(): live code versions, versions loaded, unreleased modules."""
    return {"code_versions": _counts["code_versions"], "code_loads": _counts["code_loads"],
            "unreleased_modules": _unreleased()}


# ---- development reload -------------------------------------------------------------------------

class _Watcher(threading.Thread):
    """Checks the files of every watched configuration every `interval` s; on a change loads
    the code again (as an Envoy configuration update would) and makes it the configuration's
    current code for new streams. A failing version is logged once and the last good one
    keeps serving."""

    def __init__(self, interval: float):
        super().__init__(name="envoy-pyext-reload", daemon=True)
        self.interval = interval
        self.entries: dict[Any, str | None] = {}  # live config -> digest of a failed attempt
        self.wake = threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            for live in list(self.entries):
                try:
                    self.check(live)
                except Exception as e:  # never let the watcher die
                    log.error("reload watcher: %s", _format_exc(e))

    def check(self, live: Any) -> None:
        fc = live.current()
        if fc is None:
            self.entries.pop(live, None)
            return
        code: Code = fc.code
        if not code.version.changed():
            return
        digest = code.version.disk_digest()
        if self.entries.get(live) == digest:
            return   # this content failed already: wait for the next save
        try:
            new = load(code.filter_name, code.filter_config)
            if new.version is code.version:
                return
            if live.swap(new):
                self.entries[live] = None
                log.warning("%s: reloaded (code version %d): new streams use "
                            "it", code.filter_name, new.version.serial)
        except Exception as e:
            if live in self.entries:
                self.entries[live] = digest
            text = str(e) if isinstance(e, FilterConfigError) else _format_exc(e)
            log.error("%s: reload failed; the previous code keeps serving:\n%s",
                      code.filter_name, text)


_watcher: _Watcher | None = None


def watch(live: Any) -> None:
    """Starts watching a configuration (its `.current()` FilterConfig's files; `.swap(code)`
    makes new code current). Main thread."""
    global _watcher
    with _lock:
        if _watcher is None:
            try:
                interval = float(os.environ.get(RELOAD_INTERVAL_VAR, "") or DEFAULT_INTERVAL)
            except ValueError:
                interval = DEFAULT_INTERVAL
            _watcher = _Watcher(max(0.05, interval))
            _watcher.start()
        _watcher.entries[live] = None
        log.info("%s: watching its source files for changes (reload)",
                 live.current().code.filter_name)


def unwatch(live: Any) -> None:
    if _watcher is not None:
        _watcher.entries.pop(live, None)
