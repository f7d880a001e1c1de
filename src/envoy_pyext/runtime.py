"""Envoy's runtime values (``layered_runtime``: static, disk and admin layers).

Envoy 1.40 answers its runtime getters on its main thread only (workers get the default), so
envoy-pyext reads every value on the main thread and remembers it per (type, key, default), in
process memory that every interpreter reads (the shared one and each ``interpreter:
per_worker`` one: all see the same values):

- called on Envoy's main thread (``parse_config`` at configuration load; with ``per_worker``
  the load's check in the first interpreter): the current value;
- called in a hook, a coroutine or a thread (any interpreter): the value read last on the main
  thread. Values are read again at every configuration load and every second, so a change (an
  admin ``POST /runtime_modify``, a new disk layer) reaches the hooks within about a second;
- a (type, key, default) never read on the main thread before returns ``default`` the first
  time and is read there within a second: read the keys a filter needs in ``parse_config``.

Outside Envoy (unit tests, tooling) every getter returns ``default``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from ._native import _runtime_get

# envoy_pyext.testing.runtime_values(...): test values, over what Envoy (or the default) says.
_TEST_VALUES: dict[str, Any] = {}

__all__ = ["get_bool", "get_float", "get_int"]


def _get(kind: str, key: str, default: Any) -> Any:
    value = _runtime_get(kind, key, default)     # validates key and default
    return _TEST_VALUES.get(key, value) if _TEST_VALUES else value


def get_bool(key: str, default: bool = False) -> bool:
    """The runtime value ``key`` as a bool (Envoy's ``snapshot().getBoolean``)."""
    return bool(_get("bool", key, default))


def get_int(key: str, default: int = 0) -> int:
    """The runtime value ``key`` as an unsigned integer (``getInteger``); ``default`` is in
    ``[0, 2**64)``."""
    return int(_get("int", key, default))


def get_float(key: str, default: float = 0.0) -> float:
    """The runtime value ``key`` as a float (``getDouble``)."""
    return float(_get("float", key, default))


@contextlib.contextmanager
def _overridden(values: Mapping[str, Any]) -> Iterator[None]:
    saved = dict(_TEST_VALUES)
    _TEST_VALUES.update(values)
    try:
        yield
    finally:
        _TEST_VALUES.clear()
        _TEST_VALUES.update(saved)
