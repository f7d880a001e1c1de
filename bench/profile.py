#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Where envoy-pyext's time goes, two ways, with the same processes and pinning as bench/run.py:

- perf: `perf record` (software cpu-clock event; the VM has no hardware counters) on the Envoy
  serving the pure-Python header filter under wrk -c16 load, next to the no-filter Envoy.
  CPU/request per shared object (Envoy's binary is stripped, so Envoy itself is one bucket;
  libpython and libpyfilter.so have symbols), the top symbols, and the inclusive cost of each
  dynamic-module hook.
- callgrind: the measurement of the bench's callgrind mode (bench/callgrind.py; the per-variant
  record is `make bench-callgrind`), here with the breakdown by function: whole Envoy (no filter
  vs the filter), and only inside the module's hooks (--toggle-collect).

    .venv/bin/python bench/profile.py [--seconds 8] [--requests 2000] [--only perf|callgrind]
                                      [--cg-processes base,lua_callout,py_callout] [--notes]

--notes also writes bench/profile-notes.md, which bench/report.py includes in
docs/PERFORMANCE.md. Needs `perf` (Debian linux-perf) / `valgrind`, and root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import callgrind as CG  # noqa: E402
import envoys as E  # noqa: E402
import run as R  # noqa: E402

PY_DSOS = ("libpython3", "libpyfilter.so")
NOTES = E.BENCH / "profile-notes.md"


def perf_report(data: Path, *args: str) -> str:
    r = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-demangle",
                        *args], capture_output=True, text=True, timeout=600)
    return r.stdout


def parse_rows(text: str) -> list[tuple[float, list[str], float | None]]:
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*)$", line)
        if m and not line.lstrip().startswith("#"):
            pct = float(m.group(1))
            rest = m.group(3).split()
            rows.append((pct, rest, float(m.group(2)) if m.group(2) else None))
    return rows


def profile(b: R.Bench, v: R.Variant, seconds: float, workdir: Path) -> dict:
    env = b.envoys[v.process]
    cell = b.measure(v, 16, seconds, 0)  # CPU/request without the profiler attached
    data = workdir / f"{v.key}.data"
    cmd = R.wrk_cmd(env.ports[v.listener], "/", 16, seconds + 2, R.wrk_args(v, False))
    if shutil.which("stdbuf"):
        i = cmd.index(E.ensure_wrk())
        cmd[i:i] = ["stdbuf", "-oL"]
    wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = wrk.stdout.readline() if wrk.stdout else ""
        if not first.startswith("Running"):
            raise RuntimeError(f"wrk did not start: {first!r}")
        subprocess.run([*E.pin("1"), "perf", "record", "-q", "-e", "cpu-clock", "-F", "1999",
                        "--call-graph", "dwarf,16384", "-p", str(env.pid), "-o", str(data),
                        "--", "sleep", str(seconds)],
                       check=True, capture_output=True, timeout=seconds + 120)
        wrk.wait(timeout=seconds + 60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait(10)
        if wrk.stdout:
            wrk.stdout.close()
    cpu = cell["envoy_cpu_us_per_req"]
    dsos = [(pct, " ".join(rest)) for pct, rest, _ in
            parse_rows(perf_report(data, "--no-children", "--sort", "dso", "-g", "none"))]
    syms = []
    for pct, rest, _ in parse_rows(perf_report(data, "--no-children", "--sort", "dso,sym",
                                               "-g", "none")):
        dso = rest[0]
        sym = " ".join(rest[2:]) if len(rest) > 2 else ""
        syms.append((pct, dso, sym))
    hooks = []
    for pct, rest, self_pct in parse_rows(perf_report(data, "--children", "--sort", "sym",
                                                      "-g", "none")):
        name = " ".join(rest[1:])
        if name.startswith(("envoy_dynamic_module_on_http", "pyext_on_", "PyGILState",
                            "PyEval_RestoreThread", "PyEval_SaveThread", "take_gil",
                            "drop_gil", "_PyEval_EvalFrameDefault", "__pyx_",
                            "_PyObject_Vectorcall", "PyObject_Vectorcall")):
            hooks.append((pct, name))
    return {"variant": v.key, "cpu_us_per_req": cpu, "rps": cell["rps"], "dsos": dsos,
            "syms": syms, "inclusive": hooks}


def us(pct: float, cpu: float) -> str:
    return f"{pct * cpu / 100:.2f}"


def render(prof: dict, base: dict | None, top: int = 25) -> str:
    cpu = prof["cpu_us_per_req"]
    lines = [f"Profiled: `{prof['variant']}` at {prof['rps']:,.0f} req/s, "
             f"{cpu:.1f} µs Envoy CPU/request"
             + (f" (no filter: {base['cpu_us_per_req']:.1f} µs at {base['rps']:,.0f} req/s)"
                if base else "") + ".", "",
             "| shared object | % of Envoy CPU | µs/request |"
             + (" no filter: µs/request |" if base else ""),
             "|---|---|---|" + ("---|" if base else "")]
    base_d = {d: p for p, d in base["dsos"]} if base else {}
    for pct, dso in prof["dsos"][:8]:
        lines.append(f"| {dso} | {pct:.1f} | {us(pct, cpu)} |"
                     + (f" {us(base_d.get(dso, 0.0), base['cpu_us_per_req'])} |" if base else ""))
    lines += ["", "Top symbols in libpython / libpyfilter.so / libc (self time):", "",
              "| µs/request | % | object | symbol |", "|---|---|---|---|"]
    n = 0
    for pct, dso, sym in prof["syms"]:
        if dso.startswith(PY_DSOS) or dso.startswith("libc"):
            lines.append(f"| {us(pct, cpu)} | {pct:.2f} | {dso} | `{sym}` |")
            n += 1
            if n >= top:
                break
    lines += ["", "Inclusive (self + callees) time of the module's entry points:", "",
              "| µs/request | % | function |", "|---|---|---|"]
    for pct, name in prof["inclusive"][:20]:
        lines.append(f"| {us(pct, cpu)} | {pct:.2f} | `{name}` |")
    return "\n".join(lines)


# ---- callgrind: instructions per request ------------------------------------------------------

CG_KEYS = (  # inclusive costs worth showing, matched as substrings of callgrind's names
    "envoy_dynamic_module_on_http_filter_", "envoy_dynamic_module_callback_http_",
    "pyext_on_", "PyEval_RestoreThread", "PyEval_SaveThread", "_PyEval_EvalFrameDefault",
    "new_filter", "HeaderMap", "_header_name", "_hook_fn", "_invoke", "_status_of",
    "tp_dealloc_11envoy_pyext", "_unbind", "_bind", "PyTuple_New", "tupledealloc")


def callgrind_run(fleet: E.Fleet, up: E.EnvoyProc, spec: E.ProcessSpec, hooks_only: bool,
                  warm: int, n: int) -> dict:
    """One Envoy under callgrind (bench/callgrind.py), its header listener, with the breakdown
    by function."""
    return CG.measure_process(fleet, up, spec, [("hdr", "hdr", 0, n)], hooks_only=hooks_only,
                              warm=warm, breakdown=True)["hdr"]


CG_LABELLED = {f"{n}-all" for n in ("base", "noop", "lua", "py", "cy", "async", "async_sleep",
                                     "lua_callout", "py_callout")} | {"py-hooks", "cy-hooks"}


def render_callgrind(runs: dict[str, dict]) -> str:
    lines = ["| Envoy | instructions / request |", "|---|---|"]
    base = runs.get("base-all", {}).get("ir_per_request")
    for key, label in (("base-all", "no filter, whole Envoy"),
                       ("noop-all", "envoy-pyext filter overriding no hook (never enters "
                                    "Python), whole Envoy"),
                       ("lua-all", "Lua filter, whole Envoy"),
                       ("py-all", "envoy-pyext pure Python, whole Envoy"),
                       ("cy-all", "envoy-pyext Cython, whole Envoy"),
                       ("async-all", "envoy-pyext async def (no await), whole Envoy"),
                       ("async_sleep-all", "envoy-pyext async def + await asyncio.sleep(0), "
                                           "whole Envoy (all threads)"),
                       ("lua_callout-all", "Lua, one httpCall per request, whole Envoy"),
                       ("py_callout-all", "envoy-pyext, one await self.http_call per request, "
                                          "whole Envoy (all threads)"),
                       ("py-hooks", "envoy-pyext pure Python, inside the module's hooks"),
                       ("cy-hooks", "envoy-pyext Cython, inside the module's hooks"),
                       *((k, k) for k in runs if k not in CG_LABELLED)):
        if key in runs:
            ir = runs[key]["ir_per_request"]
            extra = (f" ({ir - base:+,.0f} vs no filter)"
                     if base and key.endswith("-all") and key != "base-all" else "")
            lines.append(f"| {label} | {ir:,.0f}{extra} |")
    if "lua_callout-all" in runs and "py_callout-all" in runs:
        d = runs["py_callout-all"]["ir_per_request"] - runs["lua_callout-all"]["ir_per_request"]
        lines.append(f"| one call per request: envoy-pyext `http_call` over Lua `httpCall` "
                     f"| {d:+,.0f} |")
    if "py-all" in runs and "py-hooks" in runs and base:
        out = runs["py-all"]["ir_per_request"] - base - runs["py-hooks"]["ir_per_request"]
        lines.append(f"| pure Python: added outside the module's hooks (Envoy's side of the "
                     f"dynamic-module filter, the extra headers on the wire) | {out:+,.0f} |")
    if "py-all" in runs and "noop-all" in runs:
        d = runs["py-all"]["ir_per_request"] - runs["noop-all"]["ir_per_request"]
        lines.append(f"| pure Python over the no-hook filter (the Python filter's own cost, "
                     f"incl. Envoy's header callbacks) | {d:+,.0f} |")
    hooks = runs.get("py-hooks")
    if hooks:
        seen = set()
        lines += ["", "Inside the hooks (pure Python), inclusive instructions per request:", "",
                  "| instructions / request | function |", "|---|---|"]
        for ir, name in hooks["inclusive"]:
            key = name.split(" (")[0].split("(")[0]
            if ir < 40 or key in seen or not any(k in name for k in CG_KEYS):
                continue
            seen.add(key)
            lines.append(f"| {ir:,.0f} | `{name[:110]}` |")
            if len(seen) >= 30:
                break
        lines += ["", "Self instructions per request, top 20:", "",
                  "| instructions / request | function |", "|---|---|"]
        total = hooks["ir_per_request"]
        # (callers on the stack show up with the whole total: not self costs)
        for ir, name in [r for r in hooks["self"] if r[0] < 0.9 * total][:20]:
            lines.append(f"| {ir:,.0f} | `{name[:110]}` |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8, help="perf: seconds under load")
    ap.add_argument("--requests", type=int, default=2000,
                    help="callgrind: requests counted (after 300 warm-up requests)")
    ap.add_argument("--variant", default="pyext_py", help="perf: the variant to profile")
    ap.add_argument("--only", choices=("perf", "callgrind"))
    ap.add_argument("--cg-processes", help="callgrind: comma-separated Envoys to run, by "
                    "bench/run.py process name (or noop), NAME:hooks for only inside the "
                    "module's hooks; default: base,noop,lua,py,cy,py:hooks,cy:hooks (+ async,"
                    "async_sleep). E.g. base,lua_callout,py_callout for the callout rows")
    ap.add_argument("--notes", action="store_true", help="write bench/profile-notes.md")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what we started
    do_perf = args.only in (None, "perf")
    do_cg = args.only in (None, "callgrind")
    if do_perf and not shutil.which("perf"):
        sys.exit("bench/profile.py needs perf (apt-get install linux-perf)")
    if do_cg and not shutil.which("valgrind"):
        sys.exit("bench/profile.py needs valgrind (apt-get install valgrind)")
    if (E.os.cpu_count() or 1) >= 2:
        E.os.sched_setaffinity(0, {1})
    E.ensure_wrk()
    E.build_cython_filter()
    sections = []
    if do_perf:
        s = R.Settings("profile", 1, args.seconds, args.seconds, args.seconds, 0, (16,), False,
                       scaling=False, mixed=False)
        variants = [R.VARIANT["baseline"], R.VARIANT[args.variant]]
        b = R.Bench(s, variants, with_async=E.async_available())
        work = Path(tempfile.mkdtemp(prefix="perf-", dir=E.BUILD_DIR))
        try:
            b.start()
            for v in variants:
                b.run_wrk(v, 16, 2, False)  # warm-up
            base = profile(b, variants[0], args.seconds, work)
            prof = profile(b, variants[1], args.seconds, work)
        finally:
            b.close()
            shutil.rmtree(b.log_dir, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
        text = render(prof, base)
        print(text)
        sections.append(f"### perf (sampling, {args.seconds:g} s under wrk -c16)\n\n{text}")
    if do_cg:
        specs = R.process_specs(E.async_available())
        specs["noop"] = E.ProcessSpec("noop", [E.ListenerSpec(
            "hdr", [E.pyext_filter("bench_noop:Noop")])], python=True)
        fleet = E.Fleet(E.new_log_dir())
        runs = {}
        try:
            up = E.EnvoyProc("upstream", E.upstream_config(), fleet.log_dir, cpus="1")
            fleet.add(up)
            E.wait_ready([up])
            if args.cg_processes:
                kinds = [(k.split(":")[0].strip(), k.strip().endswith(":hooks"))
                         for k in args.cg_processes.split(",") if k.strip()]
                unknown = sorted({n for n, _ in kinds} - set(specs))
                if unknown:
                    sys.exit(f"--cg-processes: unknown {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(specs))})")
            else:
                kinds = [("base", False), ("noop", False), ("lua", False),
                         ("py", False), ("cy", False), ("py", True), ("cy", True)]
                if "async" in specs:
                    kinds += [("async", False), ("async_sleep", False)]
            for name, hooks_only in kinds:
                r = callgrind_run(fleet, up, specs[name], hooks_only, 300, args.requests)
                runs[f"{name}-{'hooks' if hooks_only else 'all'}"] = r
                print(f"callgrind {name} {'hooks' if hooks_only else 'all'}: "
                      f"{r['ir_per_request']:,.0f} instructions/request "
                      f"({r['requests']} requests)", flush=True)
        finally:
            fleet.close()
            shutil.rmtree(fleet.log_dir, ignore_errors=True)
        text = render_callgrind(runs)
        print(text)
        sections.append(f"### callgrind (instructions, {args.requests} requests after a "
                        f"warm-up, one connection)\n\n{text}")
    if args.notes:
        NOTES.write_text(
            f"Recorded {dt.date.today().isoformat()} by `bench/profile.py` against the "
            f"libpyfilter.so of that day (re-run it after changing the runtime).\n\n"
            + "\n\n".join(sections) + "\n")
        print(f"\nwrote {NOTES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
