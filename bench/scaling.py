#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""`make bench-scaling`: does a Python-heavy filter scale with Envoy workers? One run, side by
side: no filter, Envoy's Lua filter, and envoy-pyext's Python-heavy header filter
(bench/filters/bench_heavy.py, about 50 µs of pure Python per request) in the shared
interpreter and with `interpreter: per_worker` (each worker its own sub-interpreter and GIL,
CPython 3.12+), each at --concurrency 1 and 2.

Every Envoy under test answers by itself (a direct_response route: the filter chain runs, no
upstream process takes CPU) and runs unpinned over every CPU; wrk (-t1 -c16) runs unpinned too.
On a 2-core machine the load generator therefore takes part of the CPU the Envoy under test
could use: each cell records the CPU seconds of the Envoy under test and of wrk (its rusage),
so the table shows how many cores each had, and req/s per Envoy core next to req/s. Cells are
interleaved (order rotated every round), medians over the rounds.

    bench/scaling.py                 3 rounds x 8 s cells (about 5 minutes)
    bench/scaling.py --quick         1 round x 3 s
    bench/scaling.py --json FILE     also write the results as JSON

Needs CPython 3.12+ (run it with such a virtualenv and its libpyfilter.so: the make target does).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import timeit
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docblock  # noqa: E402
import envoys as E  # noqa: E402
from run import CLK_TCK, proc_cpu_ticks, proc_rss_kib  # noqa: E402

TARGET = 1.6   # per_worker / shared throughput, both at --concurrency 2
RESULTS = E.BENCH / "results"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    filters: tuple  # http_filters (dicts), as a tuple for the frozen dataclass
    python: bool = False


def heavy_filter(interpreter: str) -> dict:
    return E.filter_entry("heavy", json.dumps({"class": "bench_heavy:Heavy",
                                               "interpreter": interpreter}), E.SO_PATH)


VARIANTS = [
    Variant("none", "no filter", ()),
    Variant("lua", "Lua (header filter)", (E.lua_filter(E.LUA_HEADERS),)),
    Variant("shared", "envoy-pyext heavy, shared interpreter", (heavy_filter("shared"),), True),
    Variant("per_worker", "envoy-pyext heavy, per_worker", (heavy_filter("per_worker"),), True),
]


def envoy_config(v: Variant, concurrency: int) -> dict:
    routes = [{"match": {"prefix": "/"}, "direct_response": {
        "status": 200, "body": {"inline_string": E.UPSTREAM_BODY.decode()}}}]
    return {"admin": E._admin(), "static_resources": {
        "listeners": [E._listener("bench", routes, list(v.filters),
                                  exact_balance=concurrency > 1)],
        "clusters": []}}


def python_work_us() -> float:
    """The heavy filter's work alone, in this interpreter (µs per call)."""
    sys.path.insert(0, str(E.FILTERS_DIR))
    import bench_heavy
    headers = [("host", "127.0.0.1"), ("user-agent", "wrk"), ("x-user", "alice"),
               (":path", "/api/v1/items/7"), ("authorization", "Bearer abc.def.ghi"),
               ("x-forwarded-proto", "http"), ("x-request-id", "f0b6dc15-be05-4c8e-a5ea")]
    n = 200   # short repeats, the best one: other processes' CPU use inflates the rest
    best = min(timeit.repeat(lambda: bench_heavy.work(headers), number=n, repeat=30))
    return best / n * 1e6


def probe(port: int) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"x-probe": "1"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def run_wrk(port: int, conns: int, seconds: float) -> tuple[dict, float]:
    """wrk's summary and the CPU seconds wrk used (its rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([E.ensure_wrk(), "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s",
                        "--timeout", "5s", "-H", "x-user: alice",
                        "-H", "authorization: Bearer abc.def.ghi",
                        f"http://127.0.0.1:{port}/api/v1/items/7"],
                       capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{r.stdout}\n{r.stderr}")
    out = {"requests": 0, "non2xx": 0, "errors": 0}
    for line in r.stdout.splitlines():
        line = line.strip()
        if " requests in " in line:
            out["requests"] = int(line.split()[0])
        elif line.startswith("Non-2xx or 3xx responses:"):
            out["non2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            out["errors"] = sum(int(p.split()[-1]) for p in line.split(":", 1)[1].split(","))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out, cpu


def measure(envoy: E.EnvoyProc, port: int, seconds: float, conns: int) -> dict:
    t0, c0 = time.monotonic(), proc_cpu_ticks(envoy.pid)
    out, wrk_cpu = run_wrk(port, conns, seconds)
    wall = time.monotonic() - t0
    envoy_cpu = (proc_cpu_ticks(envoy.pid) - c0) / CLK_TCK
    if out["non2xx"] or out["errors"] or not out["requests"]:
        raise RuntimeError(f"{envoy.name}: {out} (every response must be a 200)")
    return {"rps": out["requests"] / wall, "envoy_cores": envoy_cpu / wall,
            "wrk_cores": wrk_cpu / wall,
            "envoy_cpu_us_per_req": envoy_cpu / out["requests"] * 1e6,
            "rss_mib": proc_rss_kib(envoy.pid) / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--json", type=Path, help="where to write the results (default: "
                    "bench/results/scaling-<date>.json)")
    ap.add_argument("--docs-from", type=Path, metavar="JSON",
                    help="only rewrite the docs section from a saved result")
    ap.add_argument("--no-docs", action="store_true",
                    help="do not rewrite docs/PERFORMANCE.md's scaling section")
    args = ap.parse_args(argv)
    if args.docs_from:
        result = json.loads(args.docs_from.read_text())
        med = {(k.rsplit("-c", 1)[0], int(k.rsplit("-c", 1)[1])): v
               for k, v in result["cells"].items()}
        write_docs(result, med, args.docs_from)
        return 0
    if sys.version_info < (3, 12):
        sys.exit("bench/scaling.py needs CPython 3.12+ (interpreter: per_worker); "
                 "run `make bench-scaling`")
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    work_us = python_work_us()
    print(f"bench-scaling: the heavy filter's Python work alone: {work_us:.1f} µs/request "
          f"(CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs); {rounds} round(s) x "
          f"{seconds:g} s per cell", flush=True)

    log_dir = E.new_log_dir()
    envoys: dict[tuple[str, int], E.EnvoyProc] = {}
    cells: dict[tuple[str, int], list[dict]] = {}
    try:
        for v in VARIANTS:
            for conc in (1, 2):
                envoys[v.name, conc] = E.EnvoyProc(
                    f"{v.name}-c{conc}", envoy_config(v, conc), log_dir, concurrency=conc,
                    cpus=None, env=E.pyext_env() if v.python else None)
        E.wait_ready(list(envoys.values()))
        ports = {k: e.ports["bench"] for k, e in envoys.items()}
        for conc in (1, 2):   # each Python row runs where it says (and its workers are warm)
            for name, sub in (("shared", False), ("per_worker", True)):
                seen = probe(ports[name, conc])
                assert seen["subinterpreter"] is sub, (name, conc, seen)
        keys = list(envoys)
        for r in range(rounds):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for key in order:
                cells.setdefault(key, []).append(
                    measure(envoys[key], ports[key], seconds, args.conns))
                print(f"  round {r + 1}: {key[0]:>10} c{key[1]}: "
                      f"{cells[key][-1]['rps']:>9,.0f} req/s", flush=True)
    finally:
        for e in envoys.values():
            e.stop()

    med = {k: {f: statistics.median(c[f] for c in cs) for f in cs[0]} for k, cs in cells.items()}
    ratio = med["per_worker", 2]["rps"] / med["shared", 2]["rps"]
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "python_work_us": work_us, "python": sys.version.split()[0],
              "cpus": os.cpu_count(), "rounds": rounds, "seconds": seconds,
              "conns": args.conns, "target": TARGET, "per_worker_over_shared_c2": ratio,
              "cells": {f"{k[0]}-c{k[1]}": v for k, v in med.items()},
              "load": os.getloadavg()}
    print(table(med))
    print(f"per_worker / shared at --concurrency 2: x{ratio:.2f} (target >= {TARGET})")
    out = args.json or RESULTS / f"scaling-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"bench-scaling: wrote {out}")
    if not args.no_docs and not args.quick:
        write_docs(result, med, out)
    return 0


def write_docs(result: dict, med: dict, out: Path) -> None:
    md = E.ROOT / "docs" / "PERFORMANCE.md"
    md.write_text(docblock.with_block(md.read_text(), section(result, med, out.resolve())))
    print(f"bench-scaling: updated {md} (its scaling section)")


def section(result: dict, med: dict, out: Path) -> str:
    c2 = {name: med[name, 2]["rps"] for name in ("none", "lua", "shared", "per_worker")}
    c1 = {name: med[name, 1]["rps"] for name in ("none", "lua", "shared", "per_worker")}
    verdict = "met" if result["per_worker_over_shared_c2"] >= TARGET else "NOT met"
    return "\n".join([
        docblock.BEGIN,
        "## Scaling with per-worker interpreters",
        "",
        f"`make bench-scaling` (bench/scaling.py), "
        f"{result.get('date', '?')}, CPython {result['python']}, "
        f"{result['cpus']} CPUs, load average during the run "
        f"{result['load'][0]:.1f}; results: `{out.relative_to(E.ROOT)}`. The heavy filter "
        f"(`bench/filters/bench_heavy.py`) does {result['python_work_us']:.0f} µs of pure "
        f"Python per request here (JSON parse + regular expressions over the headers, timed "
        f"alone). Each Envoy answers by itself (direct_response: no upstream process), all "
        f"processes unpinned; wrk `-t1 -c{result['conns']}`; {result['rounds']} round(s) x "
        f"{result['seconds']:g} s per cell, medians. *Envoy cores* and *wrk cores* are the CPU "
        f"seconds each used per second of the cell: the load generator's share of the machine "
        f"is what the Envoy under test could not have.",
        "",
        table(med),
        "",
        f"- per_worker / shared, both with 2 workers: **x{result['per_worker_over_shared_c2']:.2f}"
        f"** (target >= {TARGET}: {verdict}); 2 workers / 1 worker: shared "
        f"x{c2['shared'] / c1['shared']:.2f}, "
        f"per_worker x{c2['per_worker'] / c1['per_worker']:.2f}, "
        f"no filter x{c2['none'] / c1['none']:.2f}, Lua x{c2['lua'] / c1['lua']:.2f}.",
        f"- RSS with 2 workers: shared {med['shared', 2]['rss_mib']:.0f} MiB, per_worker "
        f"{med['per_worker', 2]['rss_mib']:.0f} MiB: two worker interpreters (the first is the "
        f"one the configuration was checked in at load), each with its own copy of the core "
        f"and of the imported modules.",
        *contention_note(result, med),
        "",
        *model(result, med),
        docblock.END,
    ])


def contention_note(result: dict, med: dict) -> list[str]:
    cores = med["per_worker", 2]["envoy_cores"] + med["per_worker", 2]["wrk_cores"]
    if cores >= 0.8 * result["cpus"] and result["load"][0] <= result["cpus"] * 1.5:
        return []
    return [f"- **Provisional**: other jobs shared the machine (load average "
            f"{result['load'][0]:.1f} on {result['cpus']} CPUs): the per_worker Envoy with 2 "
            f"workers and wrk together got {cores:.2f} of {result['cpus']} cores, so the 2-worker "
            f"rows measure CPU contention more than the GIL. CPU µs per request (last column "
            f"but one) is the steadier comparison; rerun on an idle machine."]


def model(result: dict, med: dict) -> list[str]:
    """What the measured costs predict for W workers on W cores (docs/design.md)."""
    e = med["none", 1]["envoy_cpu_us_per_req"]               # Envoy's own work
    x = med["per_worker", 1]["envoy_cpu_us_per_req"]           # Envoy + the filter, 1 worker
    p = max(x - e, 1.0)   # the filter's added CPU: an upper bound of its time under the GIL
    w = med["per_worker", 2]["wrk_cores"] / med["per_worker", 2]["rps"] * 1e6   # wrk's cost
    mem = (med["per_worker", 2]["rss_mib"] - med["shared", 2]["rss_mib"]) / 2
    s1, s2 = med["shared", 1], med["shared", 2]
    handoff = s2["envoy_cpu_us_per_req"] - s1["envoy_cpu_us_per_req"]
    # The shared interpreter from 2 workers on: the GIL bound 1/P, or what 2 workers measured
    # when the hand-offs keep it below that (more workers only add hand-offs).
    plateau = min(1e6 / p, s2["rps"])
    rows = ["### The model, for 8, 16 and 32 workers", "",
            f"Measured above: Envoy alone costs E = {e:.0f} µs of CPU per request, with the "
            f"filter X = {x:.0f} µs, so the filter adds P = X - E = {p:.0f} µs (its Python "
            f"and the runtime's hook: an upper bound of its time under the GIL; the work timed "
            f"alone took {result['python_work_us']:.0f} µs). With W workers on W free cores, "
            f"the shared interpreter runs every worker's P under one GIL: at best 1/P = "
            f"{1e6 / p:,.0f} req/s whatever W. Measured, 2 workers sharing it reached "
            f"{s2['rps']:,.0f} req/s (1 worker: {s1['rps']:,.0f}), their CPU per request "
            f"{handoff:+.0f} µs over one worker's: a worker that wants the GIL sleeps on a futex "
            f"and is woken at each hand-off, so the table takes the lower of the two, "
            f"{plateau:,.0f} req/s, for every W >= 2 (more workers only add hand-offs). "
            f"per_worker is capped by cores only, W/X. Memory: about {mem:.0f} MiB more per "
            f"worker interpreter (measured above).", "",
            "| workers | shared interpreter, req/s (model) | per_worker, req/s (model) | "
            "per_worker / shared | extra RSS, per_worker |", "|---|---|---|---|---|"]
    for n in (1, 2, 8, 16, 32):
        per = n * 1e6 / x
        shared = per if n == 1 else min(per, plateau)
        rows.append(f"| {n} | {shared:,.0f} | {per:,.0f} | x{per / shared:.1f} | "
                    f"{n * mem:,.0f} MiB |")
    rows += ["", f"The load generator's share: on this 2-core machine wrk runs on the same "
             f"cores (w = {w:.0f} µs of CPU per request, the *wrk cores* column), so two "
             f"per_worker workers reach at most 2/(X + w) = {2e6 / (x + w):,.0f} req/s "
             f"(measured {med['per_worker', 2]['rps']:,.0f}), not 2/X = {2e6 / x:,.0f}. "
             f"Against the ideal GIL bound 1/P that would make the 2-worker ratio at most "
             f"2P/(E + P + w) = x{2 * p / (e + p + w):.2f} for this filter; the measured ratio "
             f"is higher because the shared interpreter stays below 1/P (the hand-offs above). "
             f"The *req/s per Envoy core* column takes wrk out of the comparison: from 1 to 2 "
             f"workers it changes by {per_core(med, 'per_worker'):+.0%} for per_worker and "
             f"{per_core(med, 'shared'):+.0%} for the shared interpreter."]
    return rows


def per_core(med: dict, name: str) -> float:
    """Relative change of req/s per Envoy core from 1 to 2 workers."""
    one, two = med[name, 1], med[name, 2]
    return (two["rps"] / two["envoy_cores"]) / (one["rps"] / one["envoy_cores"]) - 1


def table(med: dict) -> str:
    rows = ["| variant | workers | req/s | Envoy cores | wrk cores | req/s per Envoy core | "
            "Envoy CPU µs/req | RSS MiB |", "|---|---|---|---|---|---|---|---|"]
    for v in VARIANTS:
        for conc in (1, 2):
            m = med[v.name, conc]
            rows.append(f"| {v.label} | {conc} | {m['rps']:,.0f} | {m['envoy_cores']:.2f} | "
                        f"{m['wrk_cores']:.2f} | {m['rps'] / m['envoy_cores']:,.0f} | "
                        f"{m['envoy_cpu_us_per_req']:.1f} | {m['rss_mib']:.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
