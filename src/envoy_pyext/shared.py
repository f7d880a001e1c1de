# envoy-pyext: Apache-2.0
"""State shared by every worker of the Envoy process, whatever interpreter runs the filter.

With ``interpreter: per_worker`` each worker runs a filter in its own Python interpreter, so
module-level objects (a dict cache, a rate-limit counter) are per worker. This store is one for
the whole process, in C++ memory: keys are ``str``, values ``bytes`` (a ``str`` is stored
UTF-8 encoded), and counters are 64-bit integers changed atomically. It works the same in the
shared interpreter. Each call takes a process-wide mutex for a map operation (about a
microsecond): fine per request, not for tight loops.

    from envoy_pyext import shared

    n = shared.incr("requests")                 # atomic, across workers
    shared.set("jwks", body)
    if shared.compare_and_set("leader", None, worker_id):   # only if unset
        ...

Nothing is persisted; the store lives as long as the Envoy process.
"""

from __future__ import annotations

from ._native import (
    _shared_add,
    _shared_clear,
    _shared_delete,
    _shared_get,
    _shared_keys,
    _shared_set,
)

__all__ = ["get", "set", "compare_and_set", "delete", "keys", "incr", "counter", "counters",
           "clear"]

Value = bytes | bytearray | memoryview | str


def get(key: str, default: bytes | None = None) -> bytes | None:
    """The value stored under ``key``, or ``default``."""
    value = _shared_get(key)
    return default if value is None else value


def set(key: str, value: Value) -> None:
    """Stores ``value`` under ``key``."""
    _shared_set(key, value)


def compare_and_set(key: str, expected: Value | None, value: Value) -> bool:
    """Stores ``value`` only if the current value is ``expected`` (``None``: only if ``key``
    is unset), atomically. True when stored."""
    return bool(_shared_set(key, value, expected))


def delete(key: str) -> bool:
    """Removes ``key``'s value; True when there was one."""
    return bool(_shared_delete(key))


def keys() -> list[str]:
    """The keys that have a value, sorted."""
    return list(_shared_keys(False))


def incr(key: str, n: int = 1) -> int:
    """Adds ``n`` (may be negative) to the counter ``key`` (0 when new), atomically across
    workers and interpreters; returns the new value."""
    return int(_shared_add(key, n))


def counter(key: str) -> int:
    """The counter's value (0 when it was never incremented)."""
    return int(_shared_add(key, 0))


def counters() -> dict[str, int]:
    """Every counter and its value."""
    return {k: counter(k) for k in _shared_keys(True)}


def clear() -> None:
    """Removes every value and counter (for tests)."""
    _shared_clear()
