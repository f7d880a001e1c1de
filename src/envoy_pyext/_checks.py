# envoy-pyext: Apache-2.0
"""Checks of a Filter class when its configuration is loaded (private).

The runtime calls :func:`check_filter_class` for every filter config Envoy loads (native/
config.pxi), before ``parse_config``; ``envoy_pyext.testing.FilterTester`` and ``envoy-pyext
check`` call it too. A problem rejects the configuration (Envoy refuses to start, ``envoy
--mode validate`` fails) with every reason found:

- a method whose name looks like a hook but is not one (``decode_header``, ``DecodeHeaders``,
  ``on_request_headers``, ...) would silently never be called: "did you mean ...?". List such
  names in the class attribute ``not_hooks`` (e.g. ``not_hooks = {"decode_header"}``) when
  they are helpers on purpose;
- a hook that cannot take the arguments the runtime passes (``decode_headers(self, headers)``)
  would fail on every request;
- a hook that is not callable, or a generator function (its result is not a Status);
- ``parse_config`` that cannot be called as ``cls.parse_config(raw)`` or
  ``cls.parse_config(raw, context)`` (e.g. a plain method
  without ``@classmethod``), an ``__init__`` that needs arguments.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from ._native import Filter, FilterConfigError

__all__ = ["HOOK_ARGS", "check_filter_class", "problems", "takes_context"]

#: Every hook and the arguments the runtime passes it after ``self`` (by position).
HOOK_ARGS: dict[str, tuple[str, ...]] = {
    "decode_headers": ("headers", "end_stream"),
    "decode_data": ("buffer", "end_stream"),
    "decode_trailers": ("trailers",),
    "encode_headers": ("headers", "end_stream"),
    "encode_data": ("buffer", "end_stream"),
    "encode_trailers": ("trailers",),
    "on_log": (),
    "on_destroy": (),
    "on_local_reply": ("status_code", "details", "reset_imminent"),
}

#: Hooks the runtime calls while Envoy waits for the answer: never ``async def``.
SYNC_ONLY = ("on_local_reply",)

#: The class attribute that lists method names that only look like hooks.
OPT_OUT = "not_hooks"

# Names other frameworks (Envoy's C ABI, proxy-wasm, the Go filter) use for the same hooks.
_ALIASES = {
    "decode_body": "decode_data", "encode_body": "encode_data",
    "on_request_headers": "decode_headers", "on_request_body": "decode_data",
    "on_request_data": "decode_data", "on_request_trailers": "decode_trailers",
    "on_response_headers": "encode_headers", "on_response_body": "encode_data",
    "on_response_data": "encode_data", "on_response_trailers": "encode_trailers",
    "on_http_request_headers": "decode_headers", "on_http_request_body": "decode_data",
    "on_http_request_trailers": "decode_trailers",
    "on_http_response_headers": "encode_headers", "on_http_response_body": "encode_data",
    "on_http_response_trailers": "encode_trailers",
    "on_stream_complete": "on_log", "on_complete": "on_log", "on_done": "on_log",
    "destroy": "on_destroy", "on_destroyed": "on_destroy",
}

_KNOWN = (*HOOK_ARGS, "parse_config")


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


def _filter_api() -> frozenset[str]:
    """Every public name of envoy_pyext.Filter (hooks, parse_route_config, http_call, ...): an
    override of one of them is never a misspelling."""
    from ._native import Filter
    return frozenset(n for n in dir(Filter) if not n.startswith("_"))


def looks_like(name: str) -> str | None:
    """The hook (or parse_config) that ``name`` is probably a misspelling of, or None."""
    if name in _KNOWN or name.startswith("_") or name in _filter_api():
        return None
    if name in _ALIASES:
        return _ALIASES[name]
    if _norm(name) in _ALIASES:
        return _ALIASES[_norm(name)]
    for known in _KNOWN:
        if _norm(name) == _norm(known):
            return known
    close = difflib.get_close_matches(name.lower(), _KNOWN, n=1, cutoff=0.8)
    return close[0] if close else None


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or compiled callable without a signature
        return None


def _user_classes(cls: type) -> list[type]:
    mro = cls.__mro__
    return list(mro[:mro.index(Filter)]) if Filter in mro else [cls]


def _where(cls: type, name: str) -> str:
    for klass in _user_classes(cls):
        if name in klass.__dict__:
            fn = inspect.unwrap(klass.__dict__[name]) if callable(klass.__dict__[name]) \
                else klass.__dict__[name]
            fn = getattr(fn, "__func__", fn)
            code = getattr(fn, "__code__", None)
            if code is not None:
                return f" ({code.co_filename}:{code.co_firstlineno})"
            return ""
    return ""


def problems(cls: type) -> list[str]:
    """Everything wrong with ``cls`` as a filter class (an empty list when nothing is)."""
    out: list[str] = []
    allowed = getattr(cls, OPT_OUT, ()) or ()
    if isinstance(allowed, str):
        allowed = (allowed,)
    try:
        allowed = frozenset(allowed)
    except TypeError:
        out.append(f"{OPT_OUT} must be a set of method names, not {allowed!r}")
        allowed = frozenset()

    seen: set[str] = set()
    for klass in _user_classes(cls):
        for name, value in klass.__dict__.items():
            if name in seen:
                continue
            seen.add(name)
            if name in allowed or not (callable(value) or isinstance(value, (staticmethod,
                                                                             classmethod))):
                continue
            hook = looks_like(name)
            if hook is not None:
                out.append(f"method {name!r}{_where(cls, name)} is not a hook and would never be "
                           f"called; did you mean {hook!r}? (if it is a helper, list it in "
                           f"{OPT_OUT} = {{{name!r}}} on the class)")

    # Hooks: callable, not generators, and able to take (filter, *arguments).
    for name, args in HOOK_ARGS.items():
        if not any(name in k.__dict__ for k in _user_classes(cls)):
            continue
        fn = getattr(cls, name)
        if fn is None:
            continue  # `decode_data = None`: the hook is switched off
        where = _where(cls, name)
        if not callable(fn):
            out.append(f"hook {name}{where} is not callable (it is {fn!r})")
            continue
        if name in SYNC_ONLY and inspect.iscoroutinefunction(fn):
            out.append(f"hook {name}{where} is `async def`: it runs while Envoy sends the "
                       f"reply and must return at once (a plain def)")
            continue
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            out.append(f"hook {name}{where} is a generator function (it contains `yield`): a "
                       f"hook returns a Status or None, or is `async def` without `yield`")
            continue
        sig = _signature(fn)
        if sig is None:
            continue
        try:
            sig.bind(object(), *([None] * len(args)))
        except TypeError as e:
            expected = ", ".join(("self", *args))
            out.append(f"hook {name}{sig}{where} cannot take the runtime's arguments "
                       f"({expected}): {e}")

    if any("parse_config" in k.__dict__ for k in _user_classes(cls)):
        sig = _signature(getattr(cls, "parse_config"))
        if sig is not None:
            declared = inspect.getattr_static(cls, "parse_config")
            try:
                try:
                    sig.bind("")
                except TypeError:
                    if not isinstance(declared, (classmethod, staticmethod)):
                        raise
                    sig.bind("", None)  # parse_config(cls, raw, context)
            except TypeError as e:
                hint = ""
                raw = inspect.getattr_static(cls, "parse_config")
                if not isinstance(raw, (classmethod, staticmethod)):
                    hint = " (is @classmethod missing?)"
                out.append(f"parse_config{sig}{_where(cls, 'parse_config')} cannot be called as "
                           f"cls.parse_config(raw) or cls.parse_config(raw, context){hint}: {e}")

    if any("__init__" in k.__dict__ for k in _user_classes(cls)):
        sig = _signature(getattr(cls, "__init__"))
        if sig is not None:
            try:
                sig.bind(object())
            except TypeError as e:
                out.append(f"__init__{sig}{_where(cls, '__init__')} must take no arguments "
                           f"besides self (the runtime creates one Filter per stream): {e}")
    return out


def takes_context(parse_config: Any) -> bool:
    """Whether the runtime calls (the bound) ``parse_config(raw, context)`` or
    ``parse_config(raw)``: two positional parameters, or ``*args``. The runtime (native/
    config.pxi) and FilterTester both decide with this."""
    try:
        params = list(inspect.signature(parse_config).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def check_filter_class(cls: type, filter_name: str) -> None:
    """Raises FilterConfigError listing every problem of ``cls`` (see the module's doc)."""
    found = problems(cls)
    if found:
        raise FilterConfigError(
            f"envoy-pyext: {filter_name}: the filter class is refused:\n"
            + "\n".join(f"  - {p}" for p in found))
