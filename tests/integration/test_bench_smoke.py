"""The benchmark harness (bench/run.py) in `--smoke` mode: one ~1 s cell per variant on the real
Envoy 1.40.0, every response checked by wrk. This asserts that each variant is wired up and does
the same work (x-seen reaches the upstream, x-filter comes back, bodies arrive upper-cased) with
zero errors, and that the harness produces its numbers. It never asserts speed.

The first run creates bench/.venv-extproc (grpcio + xds-protos from PyPI) and may install wrk
with apt-get; later runs reuse both and take ~20-30 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NA_ASYNC = "n/a (async hooks not available in this build)"
ALL_VARIANTS = {
    "baseline", "lua", "extproc", "pyext_py", "pyext_cython", "pyext_async", "pyext_async_sleep",
    "baseline_body1k", "lua_body1k", "pyext_body1k", "baseline_body64k", "lua_body64k",
    "pyext_body64k", "baseline_c2", "pyext_py_c2", "lua_callout", "pyext_callout",
}
ASYNC_VARIANTS = {"pyext_async", "pyext_async_sleep", "pyext_callout"}


def _async_in_features() -> bool:
    r = subprocess.run([sys.executable, "-c", "import envoy_pyext; print('async' in "
                        "getattr(envoy_pyext, 'FEATURES', ()))"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip() == "True"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke",
                           "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, f"bench/run.py --smoke failed:\n{proc.stdout}\n{proc.stderr}"
    assert out.exists(), proc.stdout
    return json.loads(out.read_text())


@pytest.mark.timeout(900)
def test_smoke_ran_every_variant_without_problems(smoke):
    assert smoke["meta"]["mode"] == "smoke"
    assert set(smoke["variants"]) == ALL_VARIANTS
    assert smoke["problems"] == []
    assert smoke["meta"]["envoy_version"].split("/")[1] == "1.40.0", smoke["meta"]["envoy_version"]


def test_async_rows_follow_envoy_pyext_features(smoke):
    has_async = _async_in_features()
    assert smoke["meta"]["async_available"] is has_async
    for key in ASYNC_VARIANTS:
        var = smoke["variants"][key]
        assert var["available"] is has_async
        if has_async:
            assert smoke["summary"][key]["c16"]["requests"] > 0
        else:
            assert var["na_reason"] == NA_ASYNC
            assert key not in smoke["summary"]
    assert smoke["mixed"]["available"] is has_async
    if not has_async:
        assert smoke["mixed"]["na_reason"] == NA_ASYNC


def test_every_available_variant_did_the_work_on_every_response(smoke):
    available = [k for k, v in smoke["variants"].items() if v["available"]]
    assert set(available) >= ALL_VARIANTS - ASYNC_VARIANTS
    for key in available:
        # the /check request before the load: the far side saw x-seen, x-filter came back
        sem = smoke["semantics"][key]
        assert sem["ok"], (key, sem)
        cells = [c for c in smoke["cells"] if c["variant"] == key]
        assert cells, key
        for c in cells:
            # wrk checked each response of the load (status, x-filter, x-upstream-seen, body)
            assert c["requests"] > 0, (key, c)
            assert c["errors"] == 0, (key, c["wrk_errors"])
            assert c["check"]["bad"] == 0, (key, c["check"])
            assert c["check"]["ok"] == c["requests"], (key, c["check"], c["requests"])


def test_the_checks_tell_filtered_from_unfiltered(smoke):
    # The no-filter rows pass only because they expect nothing: the same check would fail a
    # filter that did not run (so the filtered rows' passes mean something).
    base = smoke["semantics"]["baseline"]["got"]
    assert base["x-filter"] is None and base["x-upstream-seen"] == "-"
    body = smoke["semantics"]["baseline_body1k"]["got"]
    assert body["x-upstream-body"] == "lower:1024"
    assert smoke["semantics"]["pyext_body64k"]["got"]["x-upstream-body"] == "upper:65536"
    assert smoke["semantics"]["lua_body64k"]["got"]["x-upstream-body"] == "upper:65536"
    for key in ("lua", "extproc", "pyext_py", "pyext_cython", "pyext_py_c2", "lua_callout"):
        got = smoke["semantics"][key]["got"]
        assert (got["x-filter"], got["x-upstream-seen"]) == ("alice", "1"), (key, got)


def test_the_callout_rows_made_one_call_per_request(smoke):
    # The callout filters set x-seen only after a 200 from the cluster `callout`, and the Envoys
    # counted no error on it (bench/run.py's error_stats would have reported a problem), so the
    # checked responses mean each request made its call; ratios are against the no-filter row.
    keys = ["lua_callout"] + (["pyext_callout"] if smoke["meta"]["async_available"] else [])
    for key in keys:
        assert smoke["variants"][key]["group"] == "callout"
        assert smoke["variants"][key]["baseline"] == "baseline"
        got = smoke["semantics"][key]["got"]
        assert (got["status"], got["x-filter"], got["x-upstream-seen"]) == (200, "alice", "1")
        assert smoke["summary"][key]["c16"]["rps_ratio"] > 0
        assert smoke["callouts"][key] >= smoke["summary"][key]["c16"]["requests"], \
            (key, smoke["callouts"][key])


def test_numbers_were_produced(smoke):
    for key, var in smoke["variants"].items():
        if not var["available"]:
            continue
        row = smoke["summary"][key]["c16"]
        assert row["rps"] > 0 and row["p50_ms"] > 0 and row["p99_ms"] >= row["p50_ms"], key
        assert row["envoy_cpu_us_per_req"] > 0, key
        assert row["envoy_rss_mib"] > 1, key
        assert row["rps_ratio"] > 0, key
    ext = smoke["summary"]["extproc"]["c16"]
    assert ext["processor_cpu_us_per_req"] > 0 and ext["processor_rss_mib"] > 1
    # the Python Envoys carry an interpreter the no-filter one does not
    assert smoke["summary"]["pyext_py"]["c16"]["envoy_rss_mib"] > \
        smoke["summary"]["baseline"]["c16"]["envoy_rss_mib"]
    statuses = {t["target"]: t["status"] for t in smoke["targets"]}
    assert len(statuses) == 12
    assert set(statuses.values()) <= {"PASS", "MISS", "n/a"}
    assert statuses["pure Python: throughput vs no filter"] in ("PASS", "MISS")
    for size in ("1KiB", "64KiB"):  # the body rows against Lua's
        assert statuses[f"{size} body upper-cased: throughput vs no filter, over Lua's"] \
            in ("PASS", "MISS")
