"""bench/callgrind.py's record handling: the regression check of `make bench-check`, the table
and targets docs/PERFORMANCE.md shows, and which record is the newest (no valgrind here: the
measurement itself is `make bench-callgrind`)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import callgrind as CG  # noqa: E402


def bench_run():
    """bench/run.py under its own name (another module named `run` may be imported)."""
    if "bench_run" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["bench_run"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["bench_run"]


def record(**ir):
    return {"meta": {"date": "2026-12-06 12:00 UTC", "envoy_version": "x", "python": "3.11",
                     "warmup_requests": 100},
            "variants": {k: {"label": CG.CG_VARIANT[k].label,
                             "baseline": CG.CG_VARIANT[k].baseline, "ir_per_request": v}
                         for k, v in ir.items()}}


def test_check_fails_only_above_ten_percent():
    old = record(baseline=100_000, pyext_py=120_000, lua=130_000)
    same = record(baseline=100_000, pyext_py=132_000, lua=100_000)   # +10.0 %: allowed
    text, bad = CG.compare(old, same)
    assert bad == []
    assert "+10.0%" in text and "-23.1%" in text
    worse = record(baseline=100_000, pyext_py=132_001, lua=130_000)
    text, bad = CG.compare(old, worse)
    assert len(bad) == 1 and bad[0].startswith("pyext_py: 120,000 -> 132,001")
    assert "REGRESSION" in text


def test_check_lists_variants_the_record_lacks_without_failing():
    text, bad = CG.compare(record(baseline=100_000), record(baseline=100_000, pyext_py=1))
    assert bad == [] and "(not recorded)" in text


def test_table_ratios_are_against_each_rows_own_no_filter_row():
    rec = record(baseline=100_000, pyext_py=125_000, baseline_body64k=200_000,
                 pyext_body64k=400_000)
    table = CG.table(rec)
    assert "| envoy-pyext, pure Python | 125,000 | +25,000 | 0.80x |" in table
    assert "| envoy-pyext, 64 KiB body upper-cased | 400,000 | +200,000 | 0.50x |" in table


def test_targets_read_on_instructions():
    rec = record(baseline=100_000, pyext_py=108_000, pyext_async=120_000,
                 pyext_async_sleep=108_000 + 7 * CG.INSTR_PER_US,
                 baseline_body1k=100_000, lua_body1k=150_000, pyext_body1k=140_000,
                 baseline_body64k=100_000, lua_body64k=150_000, pyext_body64k=160_000)
    got = {t[0].split(":")[0]: t[3] for t in CG.targets(rec)}
    assert got == {"pure Python header filter": True, "1KiB body upper-cased": True,
                   "64KiB body upper-cased": False,
                   "async def without suspension over the sync hook": False,
                   "async, await asyncio.sleep(0) in both hooks, over the sync hook": True}


def test_newest_record_is_the_latest_date(tmp_path, monkeypatch):
    monkeypatch.setattr(CG, "RESULTS_DIR", tmp_path)
    assert CG.newest_record() is None
    for name in ("2026-12-01-callgrind.json", "2026-12-06-callgrind.json", "2026-12-09.json"):
        (tmp_path / name).write_text(json.dumps(record(baseline=1)))
    assert CG.newest_record().name == "2026-12-06-callgrind.json"


@pytest.mark.parametrize("key", [v.key for v in CG.CG_VARIANTS])
def test_every_variant_is_one_bench_run_listener(key):
    R = bench_run()
    v = CG.CG_VARIANT[key]
    spec = R.process_specs(True)[v.process]
    assert v.listener in {ls.name for ls in spec.listeners}
    assert (v.body > 0) == any(ls.body for ls in spec.listeners if ls.name == v.listener)
    assert v.baseline in CG.CG_VARIANT
