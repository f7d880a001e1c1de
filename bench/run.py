#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""`make bench`: envoy-pyext side by side with no filter, Envoy's Lua filter and ext_proc to
an out-of-process Python gRPC processor, on the same Envoy 1.40.0 binary, in one run.

Every Envoy under test runs with --concurrency 1 pinned to CPU 0 (the ext_proc processor too:
the serving core is the budget an in-process filter also has); wrk and the upstream Envoy run
on CPU 1. One Envoy process per filter kind, all started up front, so the variants are
interleaved without restarts (order rotated every round) and each process's CPU time and RSS
belong to one variant at a time. The work is the same everywhere: read `x-user`, set request
`x-seen: 1`, add response `x-filter: <x-user>` (plus, for the body rows, the whole request body
buffered and upper-cased; for the callout rows, one GET to another service through the Envoy
cluster `callout`, the upstream's plain listener, before the request goes on).

Writes bench/results/<date>.json and regenerates docs/PERFORMANCE.md and docs/performance.png.

    bench/run.py            the full run (3 rounds x 15 s cells; the wall time is printed first)
    bench/run.py --quick    1 round x 3 s, 1 s warm-up (a look, not the reference numbers)
    bench/run.py --smoke    one ~1 s cell per variant, every response checked (for the tests)
    bench/run.py --callgrind [--check]   instructions per request (bench/callgrind.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoys as E  # noqa: E402

BENCH = E.BENCH
ROOT = E.ROOT
RESULTS_DIR = BENCH / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NA_ASYNC = "n/a (async hooks not available in this build)"
BODY_1K = 1024
BODY_64K = 64 * 1024

# ---- what is measured ----------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    group: str              # header | body | scaling | callout
    process: str            # ProcessSpec name
    listener: str
    baseline: str           # the no-filter variant its ratios are against
    body: int = 0           # request body bytes (POST) or 0 (GET)
    filtered: bool = True   # does the filter run (x-filter / x-seen expected)?
    needs_async: bool = False
    pyext: bool = False     # an envoy-pyext variant (for the ">= 8x ext_proc" target)


VARIANTS = [
    Variant("baseline", "no filter (the limit)", "header", "base", "hdr", "baseline",
            filtered=False),
    Variant("lua", "Lua filter", "header", "lua", "hdr", "baseline"),
    Variant("extproc", "ext_proc -> Python gRPC (grpcio threaded)", "header", "extproc", "hdr",
            "baseline"),
    Variant("pyext_py", "envoy-pyext, pure Python", "header", "py", "hdr", "baseline",
            pyext=True),
    Variant("pyext_cython", "envoy-pyext, Cython-compiled", "header", "cy", "hdr", "baseline",
            pyext=True),
    Variant("pyext_async", "envoy-pyext, async def (no await)", "header", "async", "hdr",
            "baseline", needs_async=True, pyext=True),
    Variant("pyext_async_sleep", "envoy-pyext, async def + await asyncio.sleep(0)", "header",
            "async_sleep", "hdr", "baseline", needs_async=True, pyext=True),
    Variant("baseline_body1k", "no filter, 1 KiB body", "body", "base", "body",
            "baseline_body1k", body=BODY_1K, filtered=False),
    Variant("lua_body1k", "Lua, 1 KiB body upper-cased", "body", "lua", "body",
            "baseline_body1k", body=BODY_1K),
    Variant("pyext_body1k", "envoy-pyext, 1 KiB body upper-cased", "body", "py", "body",
            "baseline_body1k", body=BODY_1K),
    Variant("baseline_body64k", "no filter, 64 KiB body", "body", "base", "body",
            "baseline_body64k", body=BODY_64K, filtered=False),
    Variant("lua_body64k", "Lua, 64 KiB body upper-cased", "body", "lua", "body",
            "baseline_body64k", body=BODY_64K),
    Variant("pyext_body64k", "envoy-pyext, 64 KiB body upper-cased", "body", "py", "body",
            "baseline_body64k", body=BODY_64K),
    Variant("lua_callout", "Lua, one httpCall per request", "callout", "lua_callout", "hdr",
            "baseline"),
    Variant("pyext_callout", "envoy-pyext, one await self.http_call per request", "callout",
            "py_callout", "hdr", "baseline", needs_async=True, pyext=True),
    Variant("baseline_c2", "no filter, --concurrency 2", "scaling", "base_c2", "hdr",
            "baseline_c2", filtered=False),
    Variant("pyext_py_c2", "envoy-pyext pure Python, --concurrency 2", "scaling", "py_c2",
            "hdr", "baseline_c2"),
]
VARIANT = {v.key: v for v in VARIANTS}


def process_specs(with_async: bool) -> dict[str, E.ProcessSpec]:
    L, P = E.ListenerSpec, E.pyext_filter
    specs = [
        E.ProcessSpec("base", [L("hdr", []), L("body", [], body=True)]),
        E.ProcessSpec("lua", [L("hdr", [E.lua_filter(E.LUA_HEADERS)]),
                              L("body", [E.lua_filter(E.LUA_BODY)], body=True)]),
        E.ProcessSpec("extproc", [L("hdr", [E.extproc_filter()])], extproc=True),
        E.ProcessSpec("py", [L("hdr", [P("bench_add_header:AddHeader")]),
                             L("body", [P("bench_upper_body:UpperBody")], body=True),
                             # the copying way, measured by --callgrind only (*_copy rows)
                             L("body_copy", [P("bench_upper_body:UpperBodyCopy")], body=True)],
                      python=True),
        E.ProcessSpec("cy", [L("hdr", [P("bench_add_header_cy:AddHeader")])], python=True),
        # one call per request through the cluster `callout` (the upstream's plain listener)
        E.ProcessSpec("lua_callout", [L("hdr", [E.lua_filter(E.LUA_CALLOUT)])], callout=True),
        E.ProcessSpec("base_c2", [L("hdr", [])], concurrency=2, cpus="0,1"),
        E.ProcessSpec("py_c2", [L("hdr", [P("bench_add_header:AddHeader")])],
                      concurrency=2, cpus="0,1", python=True),
    ]
    if with_async:
        specs += [
            E.ProcessSpec("async", [L("hdr", [P("bench_add_header_async:AddHeaderAsync")])],
                          python=True),
            E.ProcessSpec("async_sleep",
                          [L("hdr", [P("bench_add_header_async:AddHeaderAsyncSleep")])],
                          python=True),
            # sync requests next to async traffic in one worker (the event-loop test)
            E.ProcessSpec("mixed", [L("sync", [P("bench_add_header:AddHeader")]),
                                    L("async", [P("bench_add_header_async:AddHeaderAsyncSleep")])],
                          python=True),
            E.ProcessSpec("py_callout", [L("hdr", [P("bench_callout:Callout")])],
                          python=True, callout=True),
        ]
    return {s.name: s for s in specs}


@dataclass
class Settings:
    mode: str                 # full | quick | smoke
    rounds: int
    duration: float           # seconds per header cell
    body_duration: float      # seconds per body cell
    mixed_duration: float
    warmup: float             # seconds per variant, before its first cell
    conns: tuple[int, ...]
    check_every_response: bool
    scaling: bool = True
    mixed: bool = True


def settings_for(args) -> Settings:
    if args.smoke:
        s = Settings("smoke", 1, 1.0, 1.0, 1.0, 0.0, (16,), True)
    elif args.quick:
        s = Settings("quick", 1, 3.0, 3.0, 3.0, 1.0, (16, 1), False)
    else:
        s = Settings("full", 3, 15.0, 10.0, 10.0, 5.0, (16, 1), False)
    if args.rounds:
        s.rounds = args.rounds
    if args.duration:
        s.duration = s.body_duration = s.mixed_duration = args.duration
    return s


MIXED_CONDITIONS = ("alone", "sync_bg", "async_bg")
MIXED_BG_EXTRA = 2.0  # the background wrk runs this much longer than the measured one
FOREIGN_WARN_PCT = 5.0  # CPU used by other jobs during a cell, in % of one core
CELL_OVERHEAD = 0.4   # seconds per cell outside wrk (stats, /proc reads), for the estimate


def cell_duration(v: Variant, s: Settings) -> float:
    return s.body_duration if v.group == "body" else s.duration


def conns_for(v: Variant, s: Settings) -> tuple[int, ...]:
    return (16,) if v.group == "scaling" else s.conns


def estimate_seconds(variants: list[Variant], s: Settings, with_mixed: bool) -> float:
    total = 0.0
    for v in variants:
        total += s.warmup
        for _ in conns_for(v, s):
            total += s.rounds * (cell_duration(v, s) + CELL_OVERHEAD)
    if with_mixed:
        total += s.rounds * len(MIXED_CONDITIONS) * (s.mixed_duration + MIXED_BG_EXTRA + 1)
    return total + 20  # start-up of the processes


# ---- measuring -------------------------------------------------------------------------------


def proc_cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_ctxsw(pid: int) -> int:
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                nums = [int(x) for x in vals]
                idle = nums[3] + (nums[4] if len(nums) > 4 else 0)
                out[name] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


def wrk_cmd(port: int, path: str, conns: int, duration: float, args: list[str]) -> list[str]:
    return [*E.pin("1"), E.ensure_wrk(), "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s",
            "--timeout", "5s", "-s", str(E.WRK_SCRIPT),
            f"http://127.0.0.1:{port}{path}", "--", *args]


def wrk_args(v: Variant, check: bool) -> list[str]:
    a = ["user=alice"]
    if v.body:
        a.append(f"body={v.body}")
    if check:
        a += ["check=1", f"expect_filter={'alice' if v.filtered else 'absent'}",
              f"expect_seen={'1' if v.filtered else '-'}"]
        if v.body:
            a.append(f"expect_body={'upper' if v.filtered else 'lower'}:{v.body}")
    return a


def parse_wrk(out: str) -> dict:
    for line in out.splitlines():
        if line.startswith("WRKRESULT "):
            return json.loads(line[len("WRKRESULT "):])
    raise RuntimeError(f"wrk printed no WRKRESULT line:\n{out[-3000:]}")


class Bench:
    def __init__(self, s: Settings, variants: list[Variant], with_async: bool):
        self.s = s
        self.variants = variants
        self.with_async = with_async
        self.specs = process_specs(with_async)
        self.log_dir = E.new_log_dir()
        self.fleet = E.Fleet(self.log_dir)
        self.envoys: dict[str, E.EnvoyProc] = {}
        self.extproc: E.Proc | None = None
        self.cells: list[dict] = []
        self.problems: list[str] = []

    # -- processes --
    def start(self) -> None:
        up = E.EnvoyProc("upstream", E.upstream_config(), self.log_dir, cpus="1")
        self.fleet.add(up)
        E.wait_ready([up])
        self.upstream = up
        needed = {v.process for v in self.variants}
        if self.s.mixed and self.with_async:
            needed.add("mixed")
        extproc_port = 0
        if any(self.specs[n].extproc for n in needed):
            self.extproc, extproc_port = self.fleet.start_extproc(cpus="0")
        env = E.pyext_env()
        for name in sorted(needed):
            spec = self.specs[name]
            e = E.EnvoyProc(f"envoy-{name}", spec.config(up.ports, extproc_port), self.log_dir,
                            concurrency=spec.concurrency, cpus=spec.cpus,
                            env=env if spec.python else None)
            self.fleet.add(e)
            self.envoys[name] = e
        E.wait_ready(list(self.envoys.values()))

    def close(self) -> None:
        self.fleet.close()

    def port(self, v: Variant) -> int:
        return self.envoys[v.process].ports[v.listener]

    # -- correctness --
    def check_semantics(self, v: Variant) -> dict:
        """One request to /check: the check upstream echoes the x-seen (and the body verdict)
        it received, and the response must carry x-filter from the filter."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port(v), timeout=30)
        try:
            body = None
            if v.body:
                unit = b"abcdefghijklmnopqrstuvwxyz012345"
                body = (unit * (v.body // len(unit) + 1))[:v.body]
            conn.request("POST" if body else "GET", "/check", body=body,
                         headers={"x-user": "alice"})
            r = conn.getresponse()
            r.read()
            got = {"status": r.status, "x-filter": r.getheader("x-filter"),
                   "x-upstream-seen": r.getheader("x-upstream-seen"),
                   "x-upstream-body": r.getheader("x-upstream-body")}
        finally:
            conn.close()
        want = {"status": 200, "x-filter": "alice" if v.filtered else None,
                "x-upstream-seen": "1" if v.filtered else "-"}
        if v.body:
            want["x-upstream-body"] = f"{'upper' if v.filtered else 'lower'}:{v.body}"
        ok = all(got[k] == want[k] for k in want)
        return {"ok": ok, "got": got, "want": want}

    # -- one wrk run --
    def run_wrk(self, v: Variant, conns: int, duration: float, check: bool,
                listener: str | None = None, process: str | None = None) -> dict:
        env = self.envoys[process or v.process]
        port = env.ports[listener or v.listener]
        cmd = wrk_cmd(port, "/check" if check else "/", conns, duration, wrk_args(v, check))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
        if r.returncode != 0:
            raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr}\n{r.stdout}")
        return parse_wrk(r.stdout)

    def measure(self, v: Variant, conns: int, duration: float, round_no: int) -> dict:
        env = self.envoys[v.process]
        pids = {"envoy": env.pid}
        if v.process == "extproc" and self.extproc:
            pids["processor"] = self.extproc.pid
        pids["upstream"] = self.upstream.pid
        t0 = {k: proc_cpu_ticks(p) for k, p in pids.items()}
        sw0 = proc_ctxsw(env.pid)
        own0 = os.times()
        c0 = cpu_times()
        w = self.run_wrk(v, conns, duration, self.s.check_every_response)
        c1 = cpu_times()
        own1 = os.times()
        sw1 = proc_ctxsw(env.pid)
        t1 = {k: proc_cpu_ticks(p) for k, p in pids.items()}
        if not env.alive():
            raise RuntimeError(f"Envoy {env.name} died during {v.key}:\n{env.log()}")
        n = max(1, w["requests"])
        secs = w["duration_us"] / 1e6
        cell = {
            "variant": v.key, "conns": conns, "round": round_no, "duration_s": secs,
            "requests": w["requests"], "rps": w["requests"] / secs if secs else 0.0,
            "p50_ms": w["latency_us"]["p50"] / 1000, "p99_ms": w["latency_us"]["p99"] / 1000,
            "p999_ms": w["latency_us"]["p999"] / 1000, "mean_ms": w["latency_us"]["mean"] / 1000,
            "errors": sum(w["errors"].values()), "wrk_errors": w["errors"],
            "check": w["check"] if self.s.check_every_response else None,
            "envoy_cpu_us_per_req": (t1["envoy"] - t0["envoy"]) / CLK_TCK * 1e6 / n,
            "envoy_ctxsw_per_req": (sw1 - sw0) / n,
            "envoy_rss_mib": proc_rss_kib(env.pid) / 1024,
            "cpu_busy_pct": {c: round(100 * (c1[c][0] - c0[c][0]) / max(1, c1[c][1] - c0[c][1]), 1)
                             for c in c1 if c in c0},
        }
        # CPU time that none of our processes used (another job on the machine): the cell is
        # suspect when this is more than a few % of a core.
        busy = sum(c1[c][0] - c0[c][0] for c in c1 if c in c0)
        ours = sum(t1[k] - t0[k] for k in pids) + CLK_TCK * (
            (own1.user + own1.system + own1.children_user + own1.children_system)
            - (own0.user + own0.system + own0.children_user + own0.children_system))
        cell["foreign_cpu_pct"] = round(max(0.0, 100 * (busy - ours) / CLK_TCK / secs), 1) \
            if secs else 0.0
        if "processor" in pids:
            cell["processor_cpu_us_per_req"] = \
                (t1["processor"] - t0["processor"]) / CLK_TCK * 1e6 / n
            cell["processor_rss_mib"] = proc_rss_kib(pids["processor"]) / 1024
        if cell["errors"]:
            self.problems.append(f"{v.key} c{conns} round {round_no}: wrk errors {w['errors']}")
        if self.s.check_every_response and (w["check"]["bad"] or not w["check"]["ok"]):
            self.problems.append(f"{v.key} c{conns}: {w['check']['bad']} responses with the "
                                 f"wrong semantics (first: {w['check']['first_bad']})")
        self.cells.append(cell)
        return cell

    # -- the event-loop test: sync p99 next to async traffic in one worker --
    def mixed_round(self, round_no: int) -> list[dict]:
        env = self.envoys["mixed"]
        v = VARIANT["pyext_py"]
        out = []
        order = MIXED_CONDITIONS[round_no % 3:] + MIXED_CONDITIONS[:round_no % 3]
        for cond in order:
            bg = None
            try:
                if cond != "alone":
                    listener = "async" if cond == "async_bg" else "sync"
                    cmd = wrk_cmd(env.ports[listener], "/", 16,
                                  self.s.mixed_duration + MIXED_BG_EXTRA, wrk_args(v, False))
                    # stdbuf: wrk's stdout is a pipe, line-buffer it so that "Running ..."
                    # (printed once its threads are started) arrives now: an event, not a sleep
                    if shutil.which("stdbuf"):
                        i = cmd.index(E.ensure_wrk())
                        cmd[i:i] = ["stdbuf", "-oL"]
                    bg = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
                    first = bg.stdout.readline() if bg.stdout else ""
                    if not first.startswith("Running"):
                        raise RuntimeError(f"background wrk did not start: {first!r}")
                fg = self.run_wrk(v, 1, self.s.mixed_duration, False, listener="sync",
                                  process="mixed")
                rec = {"condition": cond, "round": round_no,
                       "sync_rps": fg["requests"] / (fg["duration_us"] / 1e6),
                       "sync_p50_ms": fg["latency_us"]["p50"] / 1000,
                       "sync_p99_ms": fg["latency_us"]["p99"] / 1000,
                       "sync_p999_ms": fg["latency_us"]["p999"] / 1000,
                       "errors": sum(fg["errors"].values())}
                if bg is not None:
                    bg.wait(timeout=self.s.mixed_duration + MIXED_BG_EXTRA + 60)
                    bout = bg.stdout.read() if bg.stdout else ""  # a few hundred bytes
                    if bg.returncode != 0:
                        raise RuntimeError(f"background wrk failed ({bg.returncode}): {bout}")
                    b = parse_wrk(bout)
                    rec["bg_rps"] = b["requests"] / (b["duration_us"] / 1e6)
                    rec["bg_errors"] = sum(b["errors"].values())
                    rec["errors"] += rec["bg_errors"]
                if rec["errors"]:
                    self.problems.append(f"mixed {cond} round {round_no}: errors")
                out.append(rec)
            finally:
                if bg is not None:
                    if bg.poll() is None:
                        bg.kill()
                        bg.wait(10)
                    if bg.stdout:
                        bg.stdout.close()
        return out

    def callout_counts(self) -> dict[str, int]:
        """Per callout variant: the 200s its Envoy's cluster `callout` received (the calls its
        filter made: warm-up, /check and load, one per request)."""
        out = {}
        for v in self.variants:
            if self.specs[v.process].callout and v.process in self.envoys:
                st = self.envoys[v.process].stats("cluster.callout.upstream_rq_200")
                out[v.key] = st.get("cluster.callout.upstream_rq_200", 0)
        return out

    def error_stats(self) -> dict[str, dict[str, int]]:
        """Non-zero error counters of each Envoy under test (5xx, filter errors, resets)."""
        out = {}
        keys = ("downstream_rq_5xx", "envoy_pyext_errors", "lua.errors", "ext_proc.",
                "upstream_rq_5xx", "upstream_cx_connect_fail", "upstream_rq_timeout")
        # (downstream_rq_rx_reset is not an error here: wrk closes its connections with
        # requests in flight when its time is up)
        for name, e in self.envoys.items():
            bad = {}
            for k, val in e.stats().items():
                if val and any(s in k for s in keys) and not k.endswith(
                        ("streams_started", "stream_msgs_sent", "stream_msgs_received",
                         "streams_closed", "grpc_calls_ok")):
                    bad[k] = val
            if bad:
                out[name] = bad
        return out


# ---- summarising -----------------------------------------------------------------------------


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(cells: list[dict], variants: list[Variant]) -> dict:
    out: dict = {}
    for v in variants:
        per = {}
        for conns in sorted({c["conns"] for c in cells if c["variant"] == v.key}, reverse=True):
            runs = [c for c in cells if c["variant"] == v.key and c["conns"] == conns]
            rps = [c["rps"] for c in runs]
            per[f"c{conns}"] = {
                "runs": len(runs), "rps": _median(rps), "rps_min": min(rps), "rps_max": max(rps),
                "p50_ms": _median([c["p50_ms"] for c in runs]),
                "p99_ms": _median([c["p99_ms"] for c in runs]),
                "envoy_cpu_us_per_req": _median([c["envoy_cpu_us_per_req"] for c in runs]),
                "processor_cpu_us_per_req": _median(
                    [c.get("processor_cpu_us_per_req") for c in runs]),
                "envoy_ctxsw_per_req": _median([c["envoy_ctxsw_per_req"] for c in runs]),
                "envoy_rss_mib": max(c["envoy_rss_mib"] for c in runs),
                "processor_rss_mib": max((c.get("processor_rss_mib") or 0) for c in runs) or None,
                "requests": sum(c["requests"] for c in runs),
                "errors": sum(c["errors"] for c in runs),
                "cpu0_busy_pct": _median([c["cpu_busy_pct"].get("cpu0") for c in runs]),
                "cpu1_busy_pct": _median([c["cpu_busy_pct"].get("cpu1") for c in runs]),
                "foreign_cpu_pct_max": max(c.get("foreign_cpu_pct", 0.0) for c in runs),
            }
            total = per[f"c{conns}"]["envoy_cpu_us_per_req"] + \
                (per[f"c{conns}"]["processor_cpu_us_per_req"] or 0)
            per[f"c{conns}"]["total_cpu_us_per_req"] = total
        out[v.key] = per
    for v in variants:  # ratios to the no-filter baseline of the same kind
        base = out.get(v.baseline, {})
        for ck, row in out[v.key].items():
            b = base.get(ck)
            if b and b["rps"]:
                row["rps_ratio"] = row["rps"] / b["rps"]
                row["added_cpu_us_per_req"] = row["total_cpu_us_per_req"] - \
                    b["total_cpu_us_per_req"]
    return out


def summarise_mixed(recs: list[dict]) -> dict:
    out = {}
    for cond in MIXED_CONDITIONS:
        rs = [r for r in recs if r["condition"] == cond]
        if rs:
            out[cond] = {k: _median([r.get(k) for r in rs]) for k in
                         ("sync_rps", "sync_p50_ms", "sync_p99_ms", "sync_p999_ms", "bg_rps")}
            out[cond]["runs"] = len(rs)
            out[cond]["errors"] = sum(r["errors"] for r in rs)
    return out


def evaluate_targets(summary: dict, with_async: bool) -> list[dict]:
    def row(key, ck="c16"):
        return summary.get(key, {}).get(ck)

    targets = []

    def add(name, value, limit, op, unit, why_na=None):
        if value is None:
            status = "n/a"
        else:
            status = "PASS" if (value >= limit if op == ">=" else value <= limit) else "MISS"
        targets.append({"target": name, "value": value, "limit": limit, "op": op,
                        "unit": unit, "status": status, "note": why_na if value is None else ""})

    py, cy, ep = row("pyext_py"), row("pyext_cython"), row("extproc")
    add("pure Python: throughput vs no filter", py and py.get("rps_ratio"), 0.92, ">=", "x")
    add("pure Python: added Envoy CPU per request", py and py.get("added_cpu_us_per_req"),
        2.5, "<=", "µs")
    add("Cython: throughput vs no filter", cy and cy.get("rps_ratio"), 0.94, ">=", "x")
    add("Cython: added Envoy CPU per request", cy and cy.get("added_cpu_us_per_req"),
        2.0, "<=", "µs")
    a0, a1 = row("pyext_async"), row("pyext_async_sleep")
    na = None if with_async else NA_ASYNC
    add("async, no suspension: CPU/req distance from sync pure Python (either way)",
        abs(a0["envoy_cpu_us_per_req"] - py["envoy_cpu_us_per_req"]) if (a0 and py) else None,
        1.0, "<=", "µs", na)
    add("async, await asyncio.sleep(0): CPU/req added over sync pure Python",
        a1["envoy_cpu_us_per_req"] - py["envoy_cpu_us_per_req"] if (a1 and py) else None,
        7.0, "<=", "µs", na)
    for size in ("1k", "64k"):
        p, lu = row(f"pyext_body{size}"), row(f"lua_body{size}")
        add(f"{size.upper()}iB body upper-cased: throughput vs no filter, over Lua's",
            p["rps_ratio"] / lu["rps_ratio"] if (p and lu and lu.get("rps_ratio")) else None,
            1.0, ">=", "x")
    for key in ("pyext_py", "pyext_cython", "pyext_async", "pyext_async_sleep"):
        r = row(key)
        ratio = r["rps"] / ep["rps"] if (r and ep and ep["rps"]) else None
        add(f"{VARIANT[key].label}: throughput vs ext_proc", ratio, 8.0, ">=", "x",
            na if VARIANT[key].needs_async and not with_async else None)
    return targets


# ---- facts about the machine -----------------------------------------------------------------


def machine_facts() -> dict:
    facts = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        for line in cpuinfo.splitlines():
            k, _, val = line.partition(":")
            k = k.strip()
            if k in ("model name", "cpu MHz", "cache size") and k not in facts:
                facts[k] = val.strip()
            if k == "flags" and "hypervisor_flag" not in facts:
                facts["hypervisor_flag"] = "hypervisor" in val.split()
        facts["processors_in_cpuinfo"] = cpuinfo.count("processor\t:")
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                facts["mem_total_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        r = subprocess.run(["nproc"], capture_output=True, text=True, timeout=10)
        facts["nproc"] = int(r.stdout.strip())
    except (OSError, ValueError):
        pass
    return facts


def wrk_version() -> str:
    r = subprocess.run([E.ensure_wrk(), "-v"], capture_output=True, text=True, timeout=30)
    text = (r.stdout + r.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0] if text else ""


def ensure_bench_requirements() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench: installing bench/requirements.txt (matplotlib) into the venv", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-r", str(BENCH / "requirements.txt")],
                       check=True, timeout=900)


# ---- main ------------------------------------------------------------------------------------


def fmt_duration(sec: float) -> str:
    m, s = divmod(int(round(sec)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round x 3 s per cell, 1 s warm-up")
    ap.add_argument("--smoke", action="store_true",
                    help="one ~1 s cell per variant, every response checked; no docs")
    ap.add_argument("--json", type=Path, help="where to write the results JSON "
                    "(default bench/results/<date>[-quick].json; smoke: bench/build/smoke.json)")
    ap.add_argument("--no-docs", action="store_true",
                    help="do not regenerate docs/PERFORMANCE.md and docs/performance.png")
    ap.add_argument("--variants", help="comma-separated subset of: "
                    + ", ".join(v.key for v in VARIANTS))
    ap.add_argument("--rounds", type=int, help="override the number of rounds")
    ap.add_argument("--duration", type=float, help="override the seconds per cell")
    ap.add_argument("--no-mixed", action="store_true", help="skip the event-loop test")
    ap.add_argument("--callgrind", action="store_true",
                    help="the callgrind mode (bench/callgrind.py): instructions per request "
                         "per variant, written to bench/results/<date>-callgrind.json")
    ap.add_argument("--check", action="store_true",
                    help="with --callgrind: compare with the newest recorded callgrind JSON, "
                         "exit 1 on a > 10 %% regression of any variant (writes nothing to "
                         "bench/results)")
    ap.add_argument("--cg-scale", type=float, default=1.0,
                    help="with --callgrind: scale the requests counted per variant")
    args = ap.parse_args(argv)
    if args.check and not args.callgrind:
        ap.error("--check goes with --callgrind")
    if args.callgrind:
        import callgrind

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {1})
        keys = [k.strip() for k in args.variants.split(",")] if args.variants else None
        out = args.json or (E.BUILD_DIR / "callgrind-check.json" if args.check else None)
        return callgrind.main(args.check, keys, out, args.cg_scale)
    s = settings_for(args)
    if args.no_mixed:
        s.mixed = False
    docs = not (args.no_docs or s.mode == "smoke")

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every process we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    facts = machine_facts()  # before pinning ourselves: nproc honours the affinity mask
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})  # the orchestrator lives with wrk and the upstream
    started = time.monotonic()
    with_async = E.async_available()
    keys = [k.strip() for k in args.variants.split(",")] if args.variants else None
    if keys:
        unknown = set(keys) - set(VARIANT)
        if unknown:
            ap.error(f"unknown variants: {', '.join(sorted(unknown))}")
    chosen = [v for v in VARIANTS if keys is None or v.key in keys]
    # ratios need their baseline measured in the same run
    needed = {v.baseline for v in chosen} | {v.key for v in chosen}
    if any(v.pyext for v in chosen) and keys is None:
        needed.add("extproc")
    chosen = [v for v in VARIANTS if v.key in needed]
    runnable = [v for v in chosen if with_async or not v.needs_async]
    with_mixed = s.mixed and with_async and keys is None

    est = estimate_seconds(runnable, s, with_mixed)
    print(f"bench: mode {s.mode}: {len(runnable)} variants x {len(s.conns)} connection counts "
          f"x {s.rounds} round(s), {s.duration:g} s header cells / {s.body_duration:g} s body "
          f"cells, {s.warmup:g} s warm-up; async hooks "
          f"{'available' if with_async else 'NOT available (those rows: n/a)'}", flush=True)
    print(f"bench: estimated wall time {fmt_duration(est)} (plus one-time setup)", flush=True)

    E.ensure_wrk()
    E.build_cython_filter()
    if any(v.process == "extproc" for v in runnable):
        E.ensure_extproc_venv()
    if docs:
        ensure_bench_requirements()

    b = Bench(s, runnable, with_async)
    semantics: dict[str, dict] = {}
    mixed: list[dict] = []
    try:
        b.start()
        for v in runnable:
            semantics[v.key] = b.check_semantics(v)
            if not semantics[v.key]["ok"]:
                b.problems.append(f"{v.key}: /check semantics wrong: {semantics[v.key]}")
        warmed: set[str] = set()
        for rnd in range(s.rounds):
            shift = (rnd * len(runnable)) // max(1, s.rounds)  # each round starts elsewhere
            order = runnable[shift:] + runnable[:shift]
            for v in order:
                if s.warmup and v.key not in warmed:
                    b.run_wrk(v, 16, s.warmup, False)
                    warmed.add(v.key)
                for conns in conns_for(v, s):
                    c = b.measure(v, conns, cell_duration(v, s), rnd)
                    print(f"  round {rnd + 1}/{s.rounds} {v.key:<18} c{conns:<3} "
                          f"{c['rps']:>9,.0f} req/s  p99 {c['p99_ms']:.3f} ms  "
                          f"{c['envoy_cpu_us_per_req']:6.1f} µs CPU/req"
                          + (f" (+{c['processor_cpu_us_per_req']:.1f} processor)"
                             if "processor_cpu_us_per_req" in c else "")
                          + (f"  errors {c['errors']}" if c["errors"] else "")
                          + (f"  (other jobs used {c['foreign_cpu_pct']:.0f} % of a core)"
                             if c["foreign_cpu_pct"] > FOREIGN_WARN_PCT else ""), flush=True)
            if with_mixed:
                for rec in b.mixed_round(rnd):
                    mixed.append(rec)
                    print(f"  round {rnd + 1}/{s.rounds} mixed {rec['condition']:<9} sync c1 "
                          f"p50 {rec['sync_p50_ms']:.3f} ms p99 {rec['sync_p99_ms']:.3f} ms"
                          + (f"  (background {rec['bg_rps']:,.0f} req/s)"
                             if "bg_rps" in rec else ""), flush=True)
        error_stats = b.error_stats()
        callouts = b.callout_counts()
        for name, st in error_stats.items():
            b.problems.append(f"Envoy {name} error counters: {st}")
        rss = {name: proc_rss_kib(e.pid) / 1024 for name, e in b.envoys.items()}
    finally:
        b.close()

    wall = time.monotonic() - started
    if not b.problems:  # the per-run configs and logs only matter when something went wrong
        shutil.rmtree(b.log_dir, ignore_errors=True)
    summary = summarise(b.cells, runnable)
    result = {
        "meta": {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": s.mode, "settings": asdict(s), "wall_time_s": round(wall, 1),
            "estimated_wall_time_s": round(est, 1),
            "machine": facts, "envoy_version": E.envoy_version(),
            "python": sys.version.split()[0], "wrk": wrk_version(),
            "extproc": E.extproc_versions() if "extproc" in summary else {},
            "async_available": with_async, "pinning": {
                "envoy_under_test": "CPU 0 (--concurrency 2 rows: CPUs 0-1)",
                "extproc_processor": "CPU 0", "wrk_upstream_orchestrator": "CPU 1"},
        },
        "variants": {v.key: {"label": v.label, "group": v.group, "body_bytes": v.body,
                             "baseline": v.baseline,
                             "available": with_async or not v.needs_async,
                             "na_reason": None if (with_async or not v.needs_async)
                             else NA_ASYNC} for v in chosen},
        "semantics": semantics,
        "summary": summary,
        "mixed": {"available": with_mixed,
                  "na_reason": None if with_mixed else (NA_ASYNC if not with_async
                                                        else "not run"),
                  "summary": summarise_mixed(mixed), "runs": mixed},
        "targets": evaluate_targets(summary, with_async),
        "envoy_rss_mib_end": rss,
        "callouts": callouts,
        "foreign_load": {
            "warn_pct": FOREIGN_WARN_PCT,
            "max_pct": max((c["foreign_cpu_pct"] for c in b.cells), default=0.0),
            "cells_over_warn": sum(c["foreign_cpu_pct"] > FOREIGN_WARN_PCT for c in b.cells),
            "cells": len(b.cells)},
        "problems": b.problems,
        "cells": b.cells,
        "logs": str(b.log_dir) if b.problems else None,
    }
    today = dt.date.today().isoformat()
    if args.json:
        out = args.json
    elif s.mode == "smoke":
        out = E.BUILD_DIR / "smoke.json"
    else:
        out = RESULTS_DIR / (f"{today}.json" if s.mode == "full" else f"{today}-{s.mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"bench: wrote {out} (wall time {fmt_duration(wall)}, estimated {fmt_duration(est)})")

    import report

    print(report.console_table(result))
    fl = result["foreign_load"]
    if fl["cells_over_warn"]:
        print(f"bench: WARNING: other jobs used more than {FOREIGN_WARN_PCT:g} % of a core in "
              f"{fl['cells_over_warn']}/{fl['cells']} cells (max {fl['max_pct']:.0f} %): "
              f"the machine was not quiet, these numbers are noisy")
    if b.problems:
        print("bench: PROBLEMS (docs not regenerated; configs and logs kept in "
              f"{b.log_dir}):\n  " + "\n  ".join(b.problems), file=sys.stderr)
        return 1
    if docs:
        md, png = report.write_docs(result, out)
        print(f"bench: wrote {md.relative_to(ROOT)} and {png.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
