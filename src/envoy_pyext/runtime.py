"""Envoy's runtime values (``layered_runtime``: static, disk and admin layers).

Envoy 1.40 answers its runtime getters on its main thread only (workers get the default), so
envoy-pyext reads every value on the main thread and remembers it per (type, key, default):

- called in ``parse_config`` (Envoy's main thread, at configuration load): the current value;
- called in a hook, a coroutine or a thread: the value read last on the main thread. Values
  are read again at every configuration load and every second, so a change (an admin
  ``POST /runtime_modify``, a new disk layer) reaches the hooks within about a second;
- a (type, key, default) never read on the main thread before returns ``default`` the first
  time and is read there within a second: read the keys a filter needs in ``parse_config``.

Outside Envoy (unit tests, tooling) every getter returns ``default``.
"""

from __future__ import annotations

from ._native import _runtime_get

__all__ = ["get_bool", "get_float", "get_int"]


def get_bool(key: str, default: bool = False) -> bool:
    """The runtime value ``key`` as a bool (Envoy's ``snapshot().getBoolean``)."""
    return bool(_runtime_get("bool", key, default))


def get_int(key: str, default: int = 0) -> int:
    """The runtime value ``key`` as an unsigned integer (``getInteger``); ``default`` is in
    ``[0, 2**64)``."""
    return int(_runtime_get("int", key, default))


def get_float(key: str, default: float = 0.0) -> float:
    """The runtime value ``key`` as a float (``getDouble``)."""
    return float(_runtime_get("float", key, default))
