"""Running Envoy with the AddressSanitizer build of libpyfilter.so (make test-asan,
bench/soak.py --asan); docs/RELIABILITY.md, "Sanitizers", says why it is done this way.

- LD_PRELOAD of libasan cannot work with this Envoy (it exports tcmalloc's malloc/free, which
  libasan's constructor calls before they are initialised: even `envoy --version` dies). The
  ASan build instead depends on libasan, which is loaded with the module; ASan's link-order
  check must then be off (`verify_asan_link_order=0`).
- ASan claims fixed address ranges when the module is loaded (its shadow memory, its
  allocator's space), after Envoy's tcmalloc has placed mappings at random addresses: without
  care they collide in about two starts of three. ASan then aborts with SHADOW_COLLISION, or
  maps over tcmalloc's memory, which faults later (an ASan "SEGV on unknown address" inside
  one of those ranges). The preloaded tools/asan/asan_reserve.c (a small library of ours, not
  libasan) keeps both ranges free until the module is loaded. Should a start still fail with
  exactly one of those two signatures before Envoy became ready, `start_ready` retries it, at
  most START_TRIES starts in all; any other failure is raised at once.
- Every log is scanned for sanitizer reports (`reports`): any report fails the run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from envoy_pyext import launcher

ASAN_VAR = "PYEXT_ASAN"  # "1": the harness runs every Envoy the ASan way (make test-asan)
ASAN_OPTIONS = ":".join([
    "verify_asan_link_order=0",  # libasan is not first in the link order (see above)
    "detect_leaks=0",            # CPython's by-design leaks at exit; leaks: make test-leaks
    "halt_on_error=1",           # the first report ends the process (and fails the run)
    "abort_on_error=0",
    "allocator_may_return_null=0",
])
SHADOW_COLLISION = "Shadow memory range interleaves with an existing memory mapping"
# ASan's fixed x86_64 ranges: its shadow (low shadow, gap, high shadow), its allocator's space
ASAN_RANGES = ((0x00007FFF8000, 0x10007FFF7FFF), (0x600000000000, 0x63FFFFFFFFFF))
START_TRIES = 8
PRELOAD_NAME = "libpyext_asan_reserve.so"  # built beside the ASan module (build_so.py --asan)
SEGV = re.compile(r"ERROR: AddressSanitizer: SEGV on unknown address (0x[0-9a-f]+)")
REPORT = re.compile(r"^.*(ERROR: (?:AddressSanitizer|LeakSanitizer)|"
                    r"WARNING: AddressSanitizer|" + re.escape(SHADOW_COLLISION) + r").*$",
                    re.MULTILINE)


def enabled() -> bool:
    return os.environ.get(ASAN_VAR) == "1"


def asan_env(env: Mapping[str, str], so: str | Path) -> dict[str, str]:
    """`env` for an Envoy that loads the ASan build `so`: ASAN_OPTIONS set, the reservation
    library beside `so` preloaded, PYTHONMALLOC removed (the module routes CPython's
    allocators to ASan's heap itself, tools/asan/asan_heap.cc; PYTHONMALLOC would replace them
    while the interpreter starts)."""
    preload = Path(so).resolve().parent / PRELOAD_NAME
    if not preload.exists():
        raise FileNotFoundError(f"{preload} is missing (tools/build_so.py --asan builds it)")
    out = dict(env)
    out["ASAN_OPTIONS"] = ASAN_OPTIONS
    out["LD_PRELOAD"] = str(preload)
    out.pop("PYTHONMALLOC", None)
    return out


def start_collision(log: str) -> bool:
    """Did this start fail because ASan's shadow collided with Envoy's mappings? Exactly the
    two signatures above, nothing else."""
    if SHADOW_COLLISION in log:
        return True
    m = SEGV.search(log)
    return m is not None and any(lo <= int(m.group(1), 16) <= hi for lo, hi in ASAN_RANGES)


def start_ready(make: Callable[[], launcher.Envoy], timeout: float = 90,
                tries: int = START_TRIES) -> launcher.Envoy:
    """An Envoy from `make()` (started, or started here), ready; a start that failed with the
    shadow-collision signature is retried with a new one from `make()`, at most `tries`
    starts in all."""
    failures = []
    for _ in range(tries):
        envoy = make()
        if envoy.proc is None:
            envoy.start()
        try:
            return envoy.wait_ready(timeout)
        except launcher.EnvoyError:
            envoy.stop()
            log = envoy.log()
            if not start_collision(log):
                raise
            failures.append(envoy.pid)
            print(f"sanitizers: Envoy pid {envoy.pid} hit ASan's address-range collision while "
                  f"starting; starting another ({len(failures)} of {tries})", file=sys.stderr)
    raise launcher.EnvoyError(f"ASan's shadow memory collided with Envoy's mappings in all "
                              f"{tries} starts (pids {failures})")


def reports(log: str) -> list[str]:
    """Sanitizer reports in an Envoy log: each from its first line, up to 60 lines."""
    out = []
    for m in REPORT.finditer(log):
        lines = log[m.start():].splitlines()
        out.append("\n".join(lines[:60]))
    return out
