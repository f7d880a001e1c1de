"""The judging parts of the reliability tools (docs/RELIABILITY.md), without Envoy: the ASan
start-collision signature and its bounded retry (tests/integration/sanitizers.py), sanitizer
report extraction, and the soak's verdicts (bench/soak.py: losses, RSS bound, rest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envoy_pyext import launcher
from tests.integration import sanitizers

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import soak  # noqa: E402  (bench/soak.py)

UAF = """[info] starting
=================================================================
==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x6030000c9043 at pc 0x1
READ of size 1 at 0x6030000c9043 thread T-1
    #0 0x7f in pyext_asan_selftest_use_after_free tools/asan/asan_selftest.cc:12
SUMMARY: AddressSanitizer: heap-use-after-free tools/asan/asan_selftest.cc:12
"""


def segv(addr: str) -> str:
    return f"==7==ERROR: AddressSanitizer: SEGV on unknown address {addr} (pc 0x5 bp 0x1)\n"


@pytest.mark.parametrize("log, collided", [
    ("==9==" + sanitizers.SHADOW_COLLISION + ". ASan cannot proceed correctly. ABORTING.", True),
    (segv("0x63b73fe02000"), True),    # ASan's allocator space
    (segv("0x02008fff8000"), True),    # its high shadow
    (segv("0x000000000000"), False),   # a null dereference is a real crash
    (segv("0x55a4e7af2ff1"), False),   # Envoy's own memory
    (UAF, False),
    ("[critical] some other start-up failure", False),
])
def test_only_the_collision_signatures_count_as_collisions(log, collided):
    assert sanitizers.start_collision(log) is collided


class FakeEnvoy:
    """Stands in for launcher.Envoy: its start fails with `log`, or succeeds (log None)."""

    made: list[FakeEnvoy] = []

    def __init__(self, log: str | None):
        self._log, self.proc, self.pid, self.stopped = log, None, 1000 + len(self.made), False
        self.made.append(self)

    def start(self):
        self.proc = object()

    def wait_ready(self, timeout):
        if self._log is not None:
            raise launcher.EnvoyError("exited")
        return self

    def stop(self):
        self.stopped = True

    def log(self):
        return self._log or ""


@pytest.fixture(autouse=True)
def _fresh():
    FakeEnvoy.made = []


def test_a_collided_start_is_retried_until_one_succeeds():
    logs = iter([sanitizers.SHADOW_COLLISION, segv("0x600000001000"), None])
    envoy = sanitizers.start_ready(lambda: FakeEnvoy(next(logs)), tries=5)
    assert envoy is FakeEnvoy.made[-1] and len(FakeEnvoy.made) == 3
    assert [e.stopped for e in FakeEnvoy.made] == [True, True, False]


def test_the_retry_is_bounded():
    with pytest.raises(launcher.EnvoyError, match="in all 4 starts"):
        sanitizers.start_ready(lambda: FakeEnvoy(sanitizers.SHADOW_COLLISION), tries=4)
    assert len(FakeEnvoy.made) == 4


def test_any_other_start_failure_is_raised_at_once():
    with pytest.raises(launcher.EnvoyError, match="exited"):
        sanitizers.start_ready(lambda: FakeEnvoy(UAF), tries=5)
    assert len(FakeEnvoy.made) == 1


def test_reports_are_found_from_their_first_line():
    found = sanitizers.reports(UAF + "[info] more\n")
    assert len(found) == 1 and found[0].startswith("==42==ERROR: AddressSanitizer: heap-use")
    assert "asan_selftest.cc:12" in found[0]
    assert sanitizers.reports("[info] all well\n") == []


def test_asan_env_preloads_the_reservation_library_and_drops_pythonmalloc(tmp_path):
    so = tmp_path / "libpyfilter.so"
    with pytest.raises(FileNotFoundError, match=sanitizers.PRELOAD_NAME):
        sanitizers.asan_env({}, so)
    (tmp_path / sanitizers.PRELOAD_NAME).write_bytes(b"")
    env = sanitizers.asan_env({"PYTHONMALLOC": "malloc", "A": "1"}, so)
    assert env["LD_PRELOAD"] == str(tmp_path / sanitizers.PRELOAD_NAME)
    assert "verify_asan_link_order=0" in env["ASAN_OPTIONS"]
    assert "PYTHONMALLOC" not in env and env["A"] == "1"


# ---- the soak's verdicts -----------------------------------------------------------------

WRK = {"requests": 100, "errors": {"connect": 0, "read": 1, "write": 0, "status": 2,
                                   "timeout": 3},
       "check": {"ok": 95, "bad": 4, "first_bad": "status=500"}}


def test_every_kind_of_lost_request_is_counted():
    losses = soak.wrk_losses(WRK)
    assert losses == {"non_200_or_unchecked": 4, "connect": 0, "read": 1, "write": 0,
                      "timeout": 3, "unanswered": 1}


H2LOAD = """finished in 10.00s, 4000.00 req/s, 1.00MB/s
requests: 40010 total, 40010 started, 40000 done, 39990 succeeded, 10 failed, 0 errored, 2 timeout
status codes: 39990 2xx, 0 3xx, 0 4xx, 10 5xx
"""


def test_h2load_losses():
    res = soak.parse_h2load(H2LOAD)
    assert soak.h2_losses(res) == {"non_2xx": 10, "failed": 10, "errored": 0, "timeout": 2}
    with pytest.raises(RuntimeError, match="no summary"):
        soak.parse_h2load("h2load: connection refused")


class Bounds:
    rss_growth_mib, rss_slope_mib, slope_min_requests = 24.0, 1.0, 200_000


def samples(rss_mib: list[float], step: int = 100_000, t0: float = 0) -> list[dict]:
    return [{"t": t0 + 10 * i, "requests": step * i, "rss_kib": int(m * 1024)}
            for i, m in enumerate(rss_mib)]


def test_flat_rss_passes_and_warmup_is_left_out():
    v = soak.rss_verdict(samples([50, 90, 100, 100.2, 100.1, 100.3]), 15, Bounds)
    assert v["ok"] and v["slope_judged"] and v["growth_mib"] < 1


def test_a_steady_leak_fails_on_the_slope():
    v = soak.rss_verdict(samples([100 + 2 * i for i in range(8)]), 0, Bounds)
    assert not v["ok"] and "slope" in v["why"] and v["slope_mib_per_100k"] == pytest.approx(2)


def test_growth_fails_even_when_too_few_requests_for_the_slope():
    v = soak.rss_verdict(samples([100, 110, 130], step=1000), 0, Bounds)
    assert not v["ok"] and "grew 30.0 MiB" in v["why"] and not v["slope_judged"]


def test_too_short_a_run_is_no_pass():
    assert not soak.rss_verdict(samples([100]), 0, Bounds)["ok"]


def test_at_rest():
    base = {"live_streams": 1, "live_filters": 1, "pending": 0, "live_callouts": 0}
    rest = {"live_streams": 2, "live_filters": 2, "pending": 0, "live_callouts": 0,
            "live_by_class": {"Stats": 2}}   # the sampler's streams, one per worker
    assert soak.at_rest(rest, base)
    assert not soak.at_rest(dict(rest, live_by_class={"Stats": 2, "Threaded": 1}), base)
    assert not soak.at_rest(dict(rest, live_streams=3), base)  # a stream without its Filter
    assert not soak.at_rest(dict(rest, pending=1), base)
    assert not soak.at_rest(dict(rest, live_callouts=1), base)


# ---- make test-leaks: which valgrind findings are judged ---------------------------------------

sys.path.insert(0, str(ROOT / "tools"))
import leakcheck  # noqa: E402  (tools/leakcheck.py)

MEMCHECK_XML = """<?xml version="1.0"?>
<valgrindoutput>
<error><kind>Leak_DefinitelyLost</kind><xwhat><text>32 bytes definitely lost</text></xwhat>
 <stack>
  <frame><obj>/usr/lib/valgrind/vgpreload_memcheck.so</obj><fn>malloc</fn></frame>
  <frame><obj>/w/src/envoy_pyext/_native.cpython-311-x86_64-linux-gnu.so</obj>
         <fn>__pyx_f_buffer_set</fn><dir>/w/build/cython</dir><file>_native.cpp</file>
         <line>120</line></frame>
 </stack></error>
<error><kind>InvalidRead</kind><what>Invalid read of size 32</what>
 <stack>
  <frame><obj>/usr/lib/libc.so.6</obj><fn>__wmemcmp_avx2_movbe</fn></frame>
  <frame><obj>/py/lib/libpython3.11.so.1.0</obj><fn>unicode_compare</fn>
         <dir>Objects</dir><file>unicodeobject.c</file><line>11091</line></frame>
 </stack></error>
</valgrindoutput>
"""


def test_leakcheck_judges_findings_in_the_projects_code_only(tmp_path):
    xml = tmp_path / "memcheck.xml"
    xml.write_text(MEMCHECK_XML)
    result = leakcheck.analyse(xml)
    assert len(result["ours"]) == 1
    assert result["ours"][0].startswith("Leak_DefinitelyLost: 32 bytes definitely lost")
    assert "__pyx_f_buffer_set (_native.cpp:120)" in result["ours"][0]
    assert result["cpython_and_others_by_kind"] == {"InvalidRead": 1}
